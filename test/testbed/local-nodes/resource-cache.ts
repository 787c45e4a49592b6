// A list-and-watch cache of one resource type (an informer in miniature): keeps every object by
// namespace/name and calls back on each change; relists after an expired watch or a broken stream.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeApi, WatchEvent } from "./kube-api.ts";

/** The fields every cached object has. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** Cache key of an object: "namespace/name" (or "name" for cluster objects). */
export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace === undefined ? (name ?? "") : `${namespace}/${name ?? ""}`;
}

/** Objects of one list path, kept current by a watch. */
export class ResourceCache<T extends KubeObject> {
  readonly #objects = new Map<string, T>();
  #synced = false;

  readonly #api: KubeApi;
  readonly #path: string;
  readonly #onChange: (key: string, object: T | undefined) => void;
  readonly #log: (message: string) => void;

  constructor(
    api: KubeApi,
    path: string,
    onChange: (key: string, object: T | undefined) => void,
    log: (message: string) => void,
  ) {
    this.#api = api;
    this.#path = path;
    this.#onChange = onChange;
    this.#log = log;
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.#objects.values()];
  }

  /** One object by "namespace/name". */
  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  /** True once the first list has arrived. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Lists and watches until `signal` aborts; never throws (errors back off and relist). */
  async run(signal: AbortSignal): Promise<void> {
    let backoffMs = 200;
    while (!signal.aborted) {
      try {
        const list = await this.#api.send<{ metadata: { resourceVersion: string }; items: T[] }>(
          "GET",
          this.#path,
        );
        this.#replace(list.items);
        backoffMs = 200;
        let resourceVersion = list.metadata.resourceVersion;
        let expired = false;
        while (!signal.aborted && !expired) {
          await this.#api.watch<T>(
            this.#path,
            resourceVersion,
            (event: WatchEvent<T>) => {
              if (event.type === "ERROR") {
                expired = true; // 410 Gone and friends: relist.
                return;
              }
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              if (event.type === "BOOKMARK") return;
              this.#apply(objectKey(event.object), event.type === "DELETED" ? undefined : event.object);
            },
            signal,
          );
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#log(`watch ${this.#path} failed, relisting in ${backoffMs} ms: ${(error as Error).message}`);
        await sleep(backoffMs).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }

  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      this.#apply(key, item);
    }
    for (const key of [...this.#objects.keys()]) if (!seen.has(key)) this.#apply(key, undefined);
    this.#synced = true;
  }

  #apply(key: string, object: T | undefined): void {
    if (object === undefined) this.#objects.delete(key);
    else this.#objects.set(key, object);
    this.#onChange(key, object);
  }
}
