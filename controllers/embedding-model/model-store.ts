// The store a model's versions live in, reached the way its writers reach it: through the store Secret
// that its NearlinePipelines reference (all pipelines of a model name one store; the pipeline
// controller stalls any that disagree). Connections are kept per URL and store name across
// reconciles and closed when the operator stops.
import type { NearlinePipeline } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import {
  connectRedis,
  defaultPrefix,
  listVersions,
  openStore,
  readPointer,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import type { StoreObservation } from "./promotion.ts";

/** Longest one store command may take before the reconcile fails and is retried with back-off. */
const commandTimeoutMs = 10_000;

/** Open store connections, shared by the reconciles of one controller. */
export class ModelStores {
  readonly #stores = new Map<string, { client: RedisClient; store: Promise<Store> }>();

  /** The store `name` at `url`, connected once. */
  open(url: string, name: string): Promise<Store> {
    const key = `${name}\u0000${url}`;
    let entry = this.#stores.get(key);
    if (entry === undefined) {
      const client = connectRedis(
        { url },
        { connectionName: "jude-operator-promotion", commandTimeoutMs, maxRetriesPerRequest: 1 },
      );
      const store = openStore(client, { prefix: defaultPrefix(name), create: true });
      entry = { client, store };
      this.#stores.set(key, entry);
      // A failed open is forgotten so the next reconcile connects again.
      store.catch(() => {
        this.#stores.delete(key);
        client.disconnect();
      });
    }
    return entry.store;
  }

  /** Disconnects every store. */
  close(): void {
    for (const entry of this.#stores.values()) entry.client.disconnect();
    this.#stores.clear();
  }
}

/** The pipelines naming `modelName` in `namespace` (the reconciled model's by default), by name. */
export function pipelinesOfModel(
  context: ReconcileContext,
  modelName: string,
  namespace: string = context.key.namespace,
): NearlinePipeline[] {
  return context.cache
    .list<NearlinePipeline & { metadata: { name: string } }>(resourceTypes.nearlinePipeline, { namespace })
    .filter((pipeline) => pipeline.spec?.modelRef?.name === modelName)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** Opens the store the pipelines write to (the first pipeline's reference, by name). */
export async function openModelStore(
  context: ReconcileContext,
  stores: ModelStores,
  pipelines: readonly NearlinePipeline[],
): Promise<Store | undefined> {
  const [pipeline] = pipelines;
  if (pipeline === undefined) return undefined;
  const { name, urlSecretRef } = pipeline.spec.sinks.store;
  const secret = await context.client.getLive(resourceTypes.secret, {
    namespace: context.key.namespace,
    name: urlSecretRef.name,
  });
  const encoded = (secret?.data as Record<string, string> | undefined)?.[urlSecretRef.key];
  if (encoded === undefined)
    throw new Error(
      `Secret ${urlSecretRef.name} key ${urlSecretRef.key} (the store URL of NearlinePipeline ${pipeline.metadata.name}) does not exist`,
    );
  return stores.open(Buffer.from(encoded, "base64").toString("utf8"), name);
}

/** The pointer (with the kind of its last change) and the registry. */
export async function observeStore(store: Store): Promise<StoreObservation> {
  const [pointer, kind, versions] = await Promise.all([
    readPointer(store),
    store.client.hget(store.keys.pointer, "kind"),
    listVersions(store),
  ]);
  return {
    current: pointer.current,
    backup: pointer.backup,
    kind: kind === "flip" || kind === "rollback" ? kind : undefined,
    flippedAtMs: pointer.flippedAtMs,
    versions: Object.fromEntries(versions.map((info) => [info.version, info.state])),
  };
}
