/**
 * Writes one batch of snapshot entities into the version being built: skip what the store already
 * holds at a newer position (nearline got there first: no inference needed), get a vector for each
 * remaining text (deduplicated, text-vectors.ts), then write conditionally at the entity's own source
 * position, so a fresher nearline write that lands meanwhile still wins. An entity whose text the
 * embedding server refused, or failed on alone while it answered a probe, is not written: it is counted
 * `failed` and described (EMBEDDING_REFUSED with the server's reason, EMBEDDING_FAILED with its status
 * and message) like the records the shard cannot decode.
 */
import type { EntityText } from "../shared/entity-text.ts";
import {
  isStale,
  readStored,
  writeEntities,
  type EntityStore,
  type EntityWrite,
} from "../shared/entity-writes.ts";
import {
  EMBEDDING_FAILED,
  EMBEDDING_REFUSED,
  failedTextReason,
  refusedTextReason,
} from "../shared/embedding.ts";
import type { ShardCounts } from "./checkpoint-codec.ts";
import { MAX_FAILURES_PER_BATCH, type RecordFailure } from "./source-units.ts";
import type { TextVectorsResult } from "./text-vectors.ts";

/** One entity of the snapshot at its source position. */
export interface BatchEntity {
  readonly id: string;
  readonly op: "upsert" | "delete";
  readonly eventTimeMs: number;
  /** Kafka offset; 0 for file rows. */
  readonly offset: number;
  /** Kafka partition; -1 for file rows. */
  readonly partition: number;
  /** Rendered text of an upsert; null when it had none of the extracted fields. */
  readonly text: EntityText | null;
  /** Why an upsert has no text (NO_FIELDS, UNAVAILABLE_VALUE): the code it is counted failed under. */
  readonly failedCode?: string;
}

export interface EntityBatchOptions {
  readonly entity: string;
  readonly version: string;
  readonly modelDigest: string;
  readonly store: EntityStore;
  readonly vectorsFor: (texts: readonly EntityText[]) => Promise<TextVectorsResult>;
}

/** The counts one batch adds. */
export type BatchCounts = Pick<
  ShardCounts,
  | "entities"
  | "written"
  | "stale"
  | "embedded"
  | "deduplicated"
  | "failed"
  | "deleted"
  | "inferenceCalls"
  | "inferenceTexts"
>;

/** What writing one batch added: its counts, and why the entities it counted `failed` were not written. */
export interface BatchWritten {
  readonly counts: BatchCounts;
  /** At most MAX_FAILURES_PER_BATCH; the rest are only counted. */
  readonly failures: RecordFailure[];
  /** `counts.failed` by code, every one of them. */
  readonly failedCodes: Record<string, number>;
}

/** Builds the batch writer. */
export function createEntityBatchWriter(
  options: EntityBatchOptions,
): (entities: readonly BatchEntity[]) => Promise<BatchWritten> {
  return async (entities) => {
    const counts: BatchCounts = {
      entities: 0,
      written: 0,
      stale: 0,
      embedded: 0,
      deduplicated: 0,
      failed: 0,
      deleted: 0,
      inferenceCalls: 0,
      inferenceTexts: 0,
    };
    const usable = entities.filter((each) => each.op === "delete" || each.text !== null);
    const failedCodes: Record<string, number> = {};
    const countFailed = (code: string): void => {
      counts.failed++;
      failedCodes[code] = (failedCodes[code] ?? 0) + 1;
    };
    for (const each of entities)
      if (each.op === "upsert" && each.text === null) countFailed(each.failedCode ?? "NO_FIELDS");
    counts.entities = usable.length;
    const failures: RecordFailure[] = [];
    if (usable.length === 0) return { counts, failures, failedCodes };

    const stored = await readStored(
      options.store,
      options,
      usable.map((each) => each.id),
    );
    const toWrite = usable.filter((each, index) => !isStale(each, stored[index]));
    counts.stale = usable.length - toWrite.length;

    const upserts = toWrite.filter((each) => each.op === "upsert");
    const { vectors, refused, failed, embedded, inference } =
      upserts.length > 0
        ? await options.vectorsFor(upserts.map((each) => each.text!))
        : {
            vectors: [],
            refused: new Map<string, string>(),
            failed: new Map<string, string>(),
            embedded: 0,
            inference: { calls: 0, texts: 0 },
          };
    const vectorOf = new Map(upserts.map((each, index) => [each, vectors[index]]));
    const writable = toWrite.filter((each) => each.op === "delete" || vectorOf.get(each) !== undefined);
    for (const each of toWrite) {
      if (each.text === null) continue;
      const refusal = refused.get(each.text.hash);
      const failure = failed.get(each.text.hash);
      if (refusal === undefined && failure === undefined) continue;
      countFailed(refusal !== undefined ? EMBEDDING_REFUSED : EMBEDDING_FAILED);
      counts.entities--;
      if (failures.length < MAX_FAILURES_PER_BATCH)
        failures.push(
          refusal !== undefined
            ? embeddingFailureOf(each, EMBEDDING_REFUSED, refusedTextReason(refusal))
            : embeddingFailureOf(each, EMBEDDING_FAILED, failedTextReason(failure!)),
        );
    }
    counts.embedded = embedded;
    // The requests this batch made travel with its checkpoint (a batch killed or retried before its
    // checkpoint adds none), not with whichever batch is checkpointed next.
    counts.inferenceCalls = inference.calls;
    counts.inferenceTexts = inference.texts;
    counts.deduplicated = upserts.length - (toWrite.length - writable.length) - embedded;

    const outcomes = await writeEntities(
      options.store,
      options,
      writable.map((each): EntityWrite =>
        each.op === "delete"
          ? { ...each, op: "delete" }
          : { ...each, op: "upsert", vector: vectorOf.get(each)!, contentHash: each.text!.hash },
      ),
    );
    for (const outcome of outcomes) {
      if (outcome === "stale") counts.stale++;
      else if (outcome === "deleted" || outcome === "tombstoned") counts.deleted++;
      else counts.written++;
    }
    return { counts, failures, failedCodes };
  };
}

/**
 * How an entity whose text the server refused or failed on is described: where it is (Kafka position;
 * a file row has none) and why.
 */
function embeddingFailureOf(entity: BatchEntity, code: string, reason: string): RecordFailure {
  return {
    code,
    reason,
    ...(entity.partition >= 0 ? { partition: entity.partition, offset: entity.offset } : {}),
    id: entity.id,
  };
}
