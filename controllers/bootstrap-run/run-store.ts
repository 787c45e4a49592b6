// The store a bootstrap Job's shards write to, recorded on the Job when it is created: the store's
// name (spec.sinks.store.name) and where the Secret's value pointed then (redis://host:port/db, or
// redis-cluster://host:port,… for a Cluster's seed list; no credentials). A shard reads both once, when its pod starts, so a Job keeps writing to that store
// after its pipeline moves to another one (a new name, or the Secret's URL changed). The operator's
// cache keeps Jobs whole (operator/runtime/cache-transforms.ts), annotations included; the shards'
// ConfigMap says the store too, but the cache drops ConfigMap data.
import type { NearlinePipeline } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { sameStoreEndpoint } from "../nearline-pipeline/store-endpoint.ts";
import { annotationKeys } from "../shared/labels.ts";

/** A store as a Job records it; `endpoint` is unknown when the URL could not be read or parsed. */
export interface JobStore {
  name: string;
  endpoint?: string | undefined;
}

/** The store `pipeline` names now; `endpoint` from its store Secret's URL (undefined: unreadable). */
export function pipelineStore(pipeline: NearlinePipeline, endpoint: string | undefined): JobStore {
  return { name: pipeline.spec.sinks.store.name, ...(endpoint !== undefined ? { endpoint } : {}) };
}

/** The annotations that record `store` on a Job. */
export function storeAnnotations(store: JobStore): Record<string, string> {
  return {
    [annotationKeys.store]: store.name,
    ...(store.endpoint !== undefined ? { [annotationKeys.storeEndpoint]: store.endpoint } : {}),
  };
}

/** The annotations of `job` that record its store (to be sent back by every later apply of the Job). */
export function keptStoreAnnotations(job: KubeObject): Record<string, string> {
  const annotations = job.metadata?.annotations ?? {};
  return Object.fromEntries(
    [annotationKeys.store, annotationKeys.storeEndpoint].flatMap((key) =>
      annotations[key] !== undefined ? [[key, annotations[key]]] : [],
    ),
  );
}

/** The store `job` records; undefined for a Job an operator made before it recorded one. */
export function jobStore(job: KubeObject): JobStore | undefined {
  const annotations = job.metadata?.annotations ?? {};
  const name = annotations[annotationKeys.store];
  if (name === undefined || name === "") return undefined;
  const endpoint = annotations[annotationKeys.storeEndpoint];
  return { name, ...(endpoint !== undefined && endpoint !== "" ? { endpoint } : {}) };
}

/**
 * The store `job` writes to when it is not `current`, the pipeline's: another name, or the same name
 * at another endpoint (sameStoreEndpoint: the same Cluster's seeds in another order are no move). What cannot be told is no evidence of a move: a Job that records no store (an
 * older operator made it), or an endpoint unknown on either side, compares nothing or names only.
 */
export function storeLeft(job: KubeObject, current: JobStore): JobStore | undefined {
  const recorded = jobStore(job);
  if (recorded === undefined) return undefined;
  if (recorded.name !== current.name) return recorded;
  if (
    recorded.endpoint !== undefined &&
    current.endpoint !== undefined &&
    !sameStoreEndpoint(recorded.endpoint, current.endpoint)
  )
    return recorded;
  return undefined;
}

/** `store "name" at redis://host:port/db` (or without where, when unknown). */
export function describeStore(store: JobStore): string {
  return `store "${store.name}"${store.endpoint !== undefined ? ` at ${store.endpoint}` : ""}`;
}

/** How long a deleted Job is remembered: far longer than a watch takes to bring its deletion. */
const replacedJobMemoryMs = 10 * 60_000;

/**
 * The uids of Jobs this controller deleted for a store move. A reconcile woken by the run's own status
 * write may still find such a Job in the cache, before the Job's watch brought its deletion: it then
 * waits instead of deleting it again and saying the move twice.
 */
export class ReplacedJobs {
  readonly #deleted = new Map<string, number>();

  /** Notes that the Job `uid` was deleted at `nowMs`. */
  add(uid: string, nowMs: number = Date.now()): void {
    for (const [each, at] of this.#deleted) if (nowMs - at > replacedJobMemoryMs) this.#deleted.delete(each);
    this.#deleted.set(uid, nowMs);
  }

  /** Whether the Job `uid` was deleted (and is only still in the cache). */
  has(uid: string | undefined): boolean {
    return uid !== undefined && this.#deleted.has(uid);
  }
}
