/**
 * The one write path of nearline and bootstrap after extract, prompt and hash: what they need of the
 * store, the stale check against stored metadata, and how an entity change becomes a conditional
 * store write. Both pipelines must build writes identically, or a replayed event written by one could
 * look different from the same event written by the other.
 */
import type { RecordMeta, StoreWrite, WriteOutcome } from "../../store/index.ts";
import { isNewer } from "../../store/index.ts";

/** The store operations the pipelines need (StoreWriter implements them). */
export interface EntityStore {
  readMeta(version: string, keys: readonly { entity: string; id: string }[]): Promise<(RecordMeta | null)[]>;
  write(writes: readonly StoreWrite[]): Promise<WriteOutcome[]>;
}

/** Which version, entity and model the writes belong to. */
export interface WriteTarget {
  readonly entity: string;
  readonly version: string;
  readonly modelDigest: string;
}

/** A source position: event time, then partition, then offset decide which write wins (store/ordering.ts). */
export interface SourcePosition {
  readonly eventTimeMs: number;
  /** Kafka partition; -1 for file rows. */
  readonly partition: number;
  readonly offset: number;
}

/** One entity change ready to write: an upsert carries its vector and content hash. */
export type EntityWrite = SourcePosition & {
  readonly id: string;
} & (
    | { readonly op: "upsert"; readonly vector: Float32Array; readonly contentHash: string }
    | { readonly op: "delete" }
    /** A newer event with the stored text: only the position moves (see AdvanceWrite). */
    | { readonly op: "advance"; readonly contentHash: string }
  );

/**
 * True when what is stored is at the same or a newer position than `incoming`: writing would change
 * nothing (the store would answer "stale"), so the change needs no inference.
 */
export function isStale(incoming: SourcePosition, stored: SourcePosition | null | undefined): boolean {
  return stored !== null && stored !== undefined && !isNewer(incoming, stored);
}

/** Reads the stored metadata of `ids` (null where nothing was written); no round trip for none. */
export async function readStored(
  store: EntityStore,
  target: WriteTarget,
  ids: readonly string[],
): Promise<(RecordMeta | null)[]> {
  if (ids.length === 0) return [];
  return store.readMeta(
    target.version,
    ids.map((id) => ({ entity: target.entity, id })),
  );
}

/** The conditional store write of one change. */
export function toStoreWrite(target: WriteTarget, change: EntityWrite): StoreWrite {
  const base = {
    entity: target.entity,
    id: change.id,
    version: target.version,
    eventTimeMs: change.eventTimeMs,
    offset: change.offset,
    partition: change.partition,
  };
  if (change.op === "delete") return { ...base, kind: "delete" };
  if (change.op === "advance") return { ...base, kind: "advance", contentHash: change.contentHash };
  return {
    ...base,
    kind: "upsert",
    vector: change.vector,
    modelDigest: target.modelDigest,
    contentHash: change.contentHash,
  };
}

/** Writes the changes (one pipelined round trip) and returns one outcome each, in order. */
export async function writeEntities(
  store: EntityStore,
  target: WriteTarget,
  changes: readonly EntityWrite[],
): Promise<WriteOutcome[]> {
  if (changes.length === 0) return [];
  return store.write(changes.map((change) => toStoreWrite(target, change)));
}
