// The writes of one controller: server-side apply with that controller's own field manager (so
// `kubectl get -o yaml --show-managed-fields` tells which controller owns which field), status through
// the /status subresource, deletes and live reads. No PUT with a stale resourceVersion anywhere.
import { isDeepStrictEqual } from "node:util";
import type { KubeClient } from "./kube-client.ts";
import { keyOf } from "./object-key.ts";
import { objectPath, typeOfObject, type ResourceType } from "./resource-types.ts";
import type { ApplyOptions, CacheReader, ControllerClient, KubeObject } from "./types.ts";

/** The field manager of a controller's applies. */
export function fieldManagerOf(controller: string): string {
  return `jude-${controller}`;
}

function typeOf(object: KubeObject): ResourceType {
  const type = typeOfObject(object.apiVersion ?? "", object.kind ?? "");
  if (type === undefined) throw new Error(`no resource type known for ${object.apiVersion} ${object.kind}`);
  return type;
}

/** A ControllerClient for `controller`, reading the cache to skip status writes that change nothing. */
export function createControllerClient(
  client: KubeClient,
  cache: CacheReader,
  controller: string,
): ControllerClient {
  const fieldManager = fieldManagerOf(controller);
  return {
    fieldManager,
    async apply<T extends object>(value: T, options: ApplyOptions = {}): Promise<T> {
      const object = value as KubeObject;
      const path = objectPath(typeOf(object), keyOf(object));
      return (await client.apply(path, object, fieldManager, options.force === true)) as T;
    },
    async applyStatus<T extends object>(value: T): Promise<void> {
      const object = value as KubeObject;
      const type = typeOf(object);
      const key = keyOf(object);
      const cached = cache.get(type, key);
      // A status write bumps resourceVersion, which the watch turns into another reconcile: writing
      // only real changes is what keeps a settled object quiet.
      if (cached !== undefined && isDeepStrictEqual(cached.status, object.status)) return;
      await client.apply(`${objectPath(type, key)}/status`, object, fieldManager, false);
    },
    async delete(type, key): Promise<void> {
      await client.delete(objectPath(type, key));
    },
    async getLive<T extends KubeObject = KubeObject>(
      type: ResourceType,
      key: Parameters<ControllerClient["getLive"]>[1],
    ) {
      return client.get<T>(objectPath(type, key));
    },
  };
}
