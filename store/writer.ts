/**
 * The store writer used by nearline workers and bootstrap shards: pipelined conditional writes of
 * vectors and tombstones, and the content-hash lookup that powers change detection.
 *
 * Every write goes through the `judeStoreWrite` script (scripts/record-scripts.ts): it is applied only
 * when its (eventTimeMs, partition, offset) position is strictly newer than the stored one (see ordering.ts), so
 * retries, replays and racing writers converge on the newest event. That also makes writes safe to
 * resend after a lost reply, which is how the writer rides out a Redis restart.
 */

import type { RecordMeta, VectorDtype } from "./codec.ts";
import { assertDtype, decodeMeta, encodeMeta, encodePayload } from "./codec.ts";
import { queueScript } from "./commands.ts";
import { StoreError, StoreErrorCodes, isTransientRedisError } from "./errors.ts";
import type { BatchCommand } from "./batch.ts";
import type { DurabilityOptions } from "./durability.ts";
import { awaitDurable, isPlainAck } from "./durability.ts";
import { execBatch, recoverConnection } from "./batch.ts";
import { assertVersion, bucketKeys, bucketOf, groupByBucket, recordField } from "./layout.ts";
import type { RetryPolicy } from "./retry.ts";
import { DEFAULT_RETRY_POLICY, waitBeforeRetry, withinDeadline } from "./retry.ts";
import type { SourceOffsetMark, SourceOffsetResult } from "./source-offsets.ts";
import { parseSourceOffsetReply, sourceOffsetCommand, sourceOffsetsStatsKey } from "./source-offsets.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** Identifies a record within a version. */
export interface RecordKey {
  readonly entity: string;
  readonly id: string;
}

/** Fields every write carries: which record, which version, and where in the source it comes from. */
interface WriteBase extends RecordKey {
  readonly version: string;
  /** Source event time in ms since the Unix epoch. */
  readonly eventTimeMs: number;
  /** Source offset (Kafka offset; 0 for snapshot rows). */
  readonly offset: number;
  /** Source partition: orders events of one event time (ordering.ts); -1 when not from Kafka. Default -1. */
  readonly partition?: number;
}

/** Store a vector for a record. */
export interface UpsertWrite extends WriteBase {
  readonly kind: "upsert";
  readonly vector: ArrayLike<number>;
  readonly modelDigest: string;
  /** Hash of the normalised text + template + model version; compared by change detection. */
  readonly contentHash: string;
}

/** Delete a record, leaving a tombstone that older replays cannot overwrite. */
export interface DeleteWrite extends WriteBase {
  readonly kind: "delete";
}

/**
 * Move a live record to a newer position without rewriting its vector: the event's text is the
 * stored one (its content hash equals the stored hash). Without it, a late event older than this one
 * but newer than the stored position would replace the newest text. Stale when the record is not
 * live with `contentHash` any more (another writer changed it since change detection read it).
 */
export interface AdvanceWrite extends WriteBase {
  readonly kind: "advance";
  readonly contentHash: string;
}

/** One conditional write. */
export type StoreWrite = UpsertWrite | DeleteWrite | AdvanceWrite;

/**
 * What a write did. `stale`: the stored position was newer or equal, nothing changed (after a retry
 * this includes writes that the lost first attempt had applied).
 */
export type WriteOutcome = "created" | "updated" | "deleted" | "tombstoned" | "advanced" | "stale";

const outcomeByCode: readonly WriteOutcome[] = [
  "stale",
  "created",
  "updated",
  "deleted",
  "tombstoned",
  "advanced",
];

/** Source offsets recorded in the same rounds as a write's commands, and where their results go. */
export interface SourceOffsetMarks {
  readonly marks: readonly SourceOffsetMark[];
  /** Called once every write and offset is in (and durable as asked), one result per mark, in order. */
  readonly onResults: (results: readonly SourceOffsetResult[]) => void;
}

/** Writer configuration. */
export interface WriterOptions {
  /** Element type for stored vectors. Default f32. */
  readonly dtype?: VectorDtype;
  /** How long to keep retrying through transient failures (no deadline: until `signal` aborts). */
  readonly retry?: RetryPolicy;
  /** Aborts retrying (e.g. on SIGTERM); pending writes then fail. */
  readonly signal?: AbortSignal;
  /** Called before each retry round with the attempt number and the last transient error (for logs). */
  readonly onRetry?: (attempt: number, error: Error, pendingWrites: number) => void;
  /**
   * Resolve `write` only once the writes are durable as asked (WAIT / WAITAOF on each primary, see
   * durability.ts); unset: once Redis acknowledged them.
   */
  readonly durability?: DurabilityOptions | undefined;
}

/** Conditional, pipelined writer of one store. */
export class StoreWriter {
  readonly #store: Store;
  readonly #dtype: VectorDtype;
  readonly #retry: RetryPolicy;
  readonly #signal: AbortSignal | undefined;
  readonly #onRetry: WriterOptions["onRetry"];
  readonly #durability: DurabilityOptions | undefined;

  constructor(store: Store, options: WriterOptions = {}) {
    this.#store = store;
    this.#dtype = options.dtype ?? "f32";
    assertDtype(this.#dtype);
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#signal = options.signal;
    this.#onRetry = options.onRetry;
    this.#durability = isPlainAck(options.durability) ? undefined : options.durability;
  }

  /**
   * Applies the writes (pipelined, grouped per Cluster node) and returns one outcome per write, in
   * order, and records the source `offsets` in the same round trips (see source-offsets.ts).
   * Validates everything first: one invalid write rejects the batch with INVALID_ARGUMENT before
   * anything is sent. Retries transient failures until the retry deadline, then throws
   * STORE_UNAVAILABLE; writes applied before that stay applied (they are individually atomic).
   */
  async write(writes: readonly StoreWrite[], offsets?: SourceOffsetMarks): Promise<WriteOutcome[]> {
    const marks = offsets?.marks ?? [];
    // The source offsets go last in every round's pipeline: on one server a round's commands apply in
    // order, so a recorded offset never precedes the writes of its round (source-offsets.ts).
    const commands = [
      ...writes.map((write) => this.#command(write)),
      ...marks.map((mark) => sourceOffsetCommand(this.#store.layout, mark)),
    ];
    const outcomes = new Array<WriteOutcome>(writes.length);
    const markResults = new Array<SourceOffsetResult>(marks.length);
    const prefix = this.#store.layout.prefix;
    const stopTimer = this.#store.metrics.writeBatchSeconds.startTimer({ store: prefix });
    const started = Date.now();
    let pending = commands.map((_, index) => index);
    let lastTransient: Error | null = null;
    try {
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) {
          if (!withinDeadline(this.#retry, started)) break;
          this.#store.metrics.writeRetries.inc({ store: prefix });
          if (lastTransient !== null) this.#onRetry?.(attempt, lastTransient, pending.length);
          await waitBeforeRetry(this.#retry, attempt, this.#signal);
          // A failover may have moved the failing slots to a promoted replica, or the server may have
          // vanished behind a silent connection.
          await recoverConnection(this.#store.client, lastTransient);
        }
        const batch = pending.map((index) => commands[index] as BatchCommand);
        const results = await execBatch(this.#store.client, batch);
        const failed: number[] = [];
        results.forEach((result, position) => {
          const index = pending[position] as number;
          if (result.error === null) {
            if (index >= writes.length)
              markResults[index - writes.length] = parseSourceOffsetReply(result.value);
            else outcomes[index] = parseOutcome(result.value);
          } else if (isTransientRedisError(result.error)) {
            failed.push(index);
            lastTransient = result.error;
          } else {
            throw recordFailure(this.#store, "write", result.error);
          }
        });
        pending = failed;
      }
    } finally {
      stopTimer();
    }
    if (pending.length > 0) {
      throw recordFailure(
        this.#store,
        "write",
        new StoreError(
          StoreErrorCodes.STORE_UNAVAILABLE,
          `write: ${pending.length} of ${commands.length} writes still failing after ${Date.now() - started} ms`,
          { cause: lastTransient, details: { pending: pending.length } },
        ),
      );
    }
    // Also when every write came back stale: a replay must not commit what an earlier attempt wrote
    // but never saw made durable.
    if (this.#durability !== undefined && commands.length > 0)
      await this.#awaitDurable(writes, marks, started);
    for (const outcome of outcomes) this.#store.metrics.writes.inc({ store: prefix, outcome });
    if (marks.length > 0) offsets?.onResults(markResults);
    return outcomes;
  }

  /** Waits (retrying with the write policy) until the primaries of `writes` report them durable. */
  async #awaitDurable(
    writes: readonly StoreWrite[],
    marks: readonly SourceOffsetMark[],
    started: number,
  ): Promise<void> {
    const layout = this.#store.layout;
    const statsKeys = [
      ...new Set([
        ...writes.map(
          (write) =>
            bucketKeys(layout, write.version, bucketOf(layout, recordField(write.entity, write.id))).stats,
        ),
        ...marks.map((mark) => sourceOffsetsStatsKey(layout, mark.version)),
      ]),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await awaitDurable(this.#store.client, statsKeys, this.#durability!);
        return;
      } catch (error) {
        const failure =
          error instanceof StoreError ? error : recordFailure(this.#store, "durability wait", error);
        if (!failure.retryable || !withinDeadline(this.#retry, started)) throw failure;
        this.#store.metrics.writeRetries.inc({ store: this.#store.layout.prefix });
        this.#onRetry?.(attempt, failure, writes.length + marks.length);
        await waitBeforeRetry(this.#retry, attempt, this.#signal);
        await recoverConnection(this.#store.client, error);
      }
    }
  }

  /**
   * Reads the stored metadata (position, live/tombstone, content hash) of records in one version;
   * null where nothing was ever written. Change detection skips an event whose content hash equals
   * the stored one of a live record.
   */
  async readMeta(version: string, keys: readonly RecordKey[]): Promise<(RecordMeta | null)[]> {
    assertVersion(version);
    const layout = this.#store.layout;
    const fields = keys.map((key) => recordField(key.entity, key.id));
    const groups = [...groupByBucket(layout, fields)];
    const commands: BatchCommand[] = groups.map(([bucket, indexes]) => {
      const key = bucketKeys(layout, version, bucket).meta;
      return {
        key,
        queue: (pipeline) => pipeline.hmget(key, ...indexes.map((index) => fields[index] as string)),
      };
    });
    const results = await execBatch(this.#store.client, commands);
    const metas = new Array<RecordMeta | null>(keys.length).fill(null);
    results.forEach((result, position) => {
      if (result.error !== null) throw recordFailure(this.#store, "read meta", result.error);
      const values = result.value as (string | null)[];
      const indexes = (groups[position] as [number, number[]])[1];
      indexes.forEach((index, slot) => {
        const text = values[slot];
        if (text !== null && text !== undefined) metas[index] = decodeMeta(text);
      });
    });
    return metas;
  }

  #command(write: StoreWrite): BatchCommand {
    assertVersion(write.version);
    const field = recordField(write.entity, write.id);
    const keys = bucketKeys(this.#store.layout, write.version, bucketOf(this.#store.layout, field));
    const op =
      write.kind === "upsert" ? "L" : write.kind === "delete" ? "D" : write.kind === "advance" ? "A" : "";
    if (op === "") {
      throw new StoreError(StoreErrorCodes.INVALID_ARGUMENT, `write kind must be upsert, delete or advance`);
    }
    const meta = encodeMeta({
      live: op !== "D",
      eventTimeMs: write.eventTimeMs,
      offset: write.offset,
      partition: write.partition ?? -1,
      contentHash: write.kind === "delete" ? "" : write.contentHash,
    });
    const args: (string | number | Buffer)[] = [
      keys.meta,
      keys.data,
      keys.stats,
      field,
      op,
      write.eventTimeMs,
      write.offset,
      meta,
    ];
    if (write.kind === "upsert") args.push(encodePayload(write.vector, this.#dtype, write.modelDigest));
    if (write.kind === "advance") args.push(write.contentHash);
    return { key: keys.meta, queue: (pipeline) => queueScript(pipeline, "judeStoreWrite", args) };
  }
}

function parseOutcome(reply: unknown): WriteOutcome {
  const outcome = typeof reply === "number" ? outcomeByCode[reply] : undefined;
  if (outcome === undefined) {
    throw new StoreError(StoreErrorCodes.INTERNAL, `unexpected write script reply ${JSON.stringify(reply)}`);
  }
  return outcome;
}
