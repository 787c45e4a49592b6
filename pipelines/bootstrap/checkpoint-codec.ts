/**
 * The checkpoint of one bootstrap shard as it is stored: a flat Redis hash whose fields are plain
 * decimal numbers and short strings (so `HGETALL` is readable by the operator and by people), with
 * the per-unit positions and the watermarks as JSON. README.md in this folder documents every field.
 */
import { z } from "zod";
import { partitionWatermark } from "./config.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

/** Checkpoint format written by this code. */
export const CHECKPOINT_FORMAT = 1;

/** Lifecycle of a shard. Only `done` means its work is completely written. */
export type ShardPhase = "running" | "done" | "interrupted" | "failed";

/**
 * Progress through one unit of work (a Kafka partition or a file). Everything before `position` is
 * completely written: for a partition, every live key whose latest record is at an offset below it;
 * for a file, every line ending at or before that byte.
 */
export interface UnitPosition {
  /** First offset / byte of the unit's range. */
  start: number;
  /** End (exclusive) of the range: the watermark, or the file size; undefined until known. */
  end?: number | undefined;
  position: number;
  done: boolean;
}

/** Counts of finished work; they only ever move together with the positions they describe. */
export interface ShardCounts {
  /** Source records finished: offsets (Kafka, compaction gaps included) or lines (files). */
  processed: number;
  /** Entities (upserts with a text, and deletes) that reached the store step. */
  entities: number;
  /** Entities written (created or updated). */
  written: number;
  /** Entities the store already held at a newer position (a fresher nearline write won). */
  stale: number;
  /** Distinct texts this shard embedded. */
  embedded: number;
  /** Entities whose vector came from the cache or from another entity with the same text. */
  deduplicated: number;
  /** Records that could not be decoded or had none of the extracted fields. */
  failed: number;
  /** Deletes written as tombstones (Kafka: keys whose latest record is a delete; files: delete rows). */
  deleted: number;
  /** Records left out: scope, or another shard's ids under the `id` file split. */
  skipped: number;
  /** Embedding requests and the texts they carried. */
  inferenceCalls: number;
  inferenceTexts: number;
}

/** Watermarks a shard reads up to; captured once and then fixed for the life of the run. */
export interface CheckpointWatermarks {
  topic: string;
  capturedAtMs: number;
  partitions: { partition: number; offset: number }[];
}

/**
 * What a running shard's batch has been waiting on (its embedding server failing every call, a probe
 * too, or unavailable or overloaded): written while the wait lasts, cleared with the batch's checkpoint,
 * so the operator can say it in the BootstrapRun's status (the shards open no port).
 */
export interface ShardWaiting {
  dependency: string;
  sinceMs: number;
  /** The last error, as the shard's log gives it (at most 500 characters). */
  error: string;
}

/** The whole checkpoint of one shard. */
export interface CheckpointState {
  fingerprint: string;
  /**
   * The BootstrapRun's uid the checkpoint was made for (absent from shards of older images): a run
   * deleted and created again under its name must not read its predecessor's shards as its own.
   */
  runUid?: string | undefined;
  phase: ShardPhase;
  attempt: number;
  startedAtMs: number;
  updatedAtMs: number;
  finishedAtMs?: number | undefined;
  error?: string | undefined;
  /** Set while a batch waits on a dependency (phase running only). */
  waiting?: ShardWaiting | undefined;
  watermarks?: CheckpointWatermarks | undefined;
  units: Record<string, UnitPosition>;
  counts: ShardCounts;
  /**
   * `counts.failed` by the code each record was logged with (DECODE codes, NO_FIELDS,
   * EMBEDDING_FAILED, ...), so the operator can export dead letters by reason; absent from shards of
   * older images, whose failures it reports under UNKNOWN.
   */
  failedCodes?: Record<string, number> | undefined;
}

/** Adds `added` (code -> count) into `into`. */
export function addFailedCodes(
  into: Record<string, number>,
  added: Readonly<Record<string, number>> | undefined,
): void {
  for (const [code, count] of Object.entries(added ?? {}))
    if (count > 0) into[code] = (into[code] ?? 0) + count;
}

/** Counts at zero. */
export function zeroCounts(): ShardCounts {
  return {
    processed: 0,
    entities: 0,
    written: 0,
    stale: 0,
    embedded: 0,
    deduplicated: 0,
    failed: 0,
    deleted: 0,
    skipped: 0,
    inferenceCalls: 0,
    inferenceTexts: 0,
  };
}

const countNames = Object.keys(zeroCounts()) as (keyof ShardCounts)[];

/**
 * Percent of the shard's source range finished, rounded down: weighted by size when every unit's end
 * is known, else the average of the units' fractions. 100 only when done.
 */
export function percentDone(state: Pick<CheckpointState, "units" | "phase">): number {
  if (state.phase === "done") return 100;
  const units = Object.values(state.units);
  if (units.length === 0) return 0;
  const fraction = (unit: UnitPosition): number =>
    unit.done
      ? 1
      : unit.end === undefined || unit.end <= unit.start
        ? 0
        : (unit.position - unit.start) / (unit.end - unit.start);
  let ratio: number;
  if (units.every((unit) => unit.end !== undefined)) {
    const size = units.reduce((sum, unit) => sum + Math.max(0, unit.end! - unit.start), 0);
    const doneSize = units.reduce(
      (sum, unit) => sum + fraction(unit) * Math.max(0, unit.end! - unit.start),
      0,
    );
    ratio = size === 0 ? 0 : doneSize / size;
  } else {
    ratio = units.reduce((sum, unit) => sum + fraction(unit), 0) / units.length;
  }
  return Math.min(99, Math.floor(ratio * 100));
}

/**
 * Records in the shard's range when known: Kafka offsets between each partition's start and its
 * watermark; for files, only once every file is done (lines are counted while reading).
 */
export function totalRecords(state: CheckpointState, source: "kafka" | "files"): number | undefined {
  const units = Object.values(state.units);
  if (source === "kafka") {
    if (units.some((unit) => unit.end === undefined)) return undefined;
    return units.reduce((sum, unit) => sum + (unit.end! - unit.start), 0);
  }
  return units.length > 0 && units.every((unit) => unit.done) ? state.counts.processed : undefined;
}

/** Flat hash fields of a checkpoint. */
export function encodeCheckpoint(state: CheckpointState): Record<string, string> {
  const fields: Record<string, string> = {
    format: String(CHECKPOINT_FORMAT),
    fingerprint: state.fingerprint,
    runUid: state.runUid ?? "",
    phase: state.phase,
    attempt: String(state.attempt),
    startedAtMs: String(state.startedAtMs),
    updatedAtMs: String(state.updatedAtMs),
    finishedAtMs: state.finishedAtMs === undefined ? "" : String(state.finishedAtMs),
    error: state.error ?? "",
    // Always written (empty when none), so a save clears what an earlier one set (HSET keeps fields).
    waitingOn: state.waiting?.dependency ?? "",
    waitingSinceMs: state.waiting === undefined ? "" : String(state.waiting.sinceMs),
    waitingError: state.waiting?.error ?? "",
    watermarks: state.watermarks === undefined ? "" : JSON.stringify(state.watermarks),
    units: JSON.stringify(state.units),
    failedCodes: JSON.stringify(state.failedCodes ?? {}),
    percent: String(percentDone(state)),
  };
  for (const name of countNames) fields[name] = String(state.counts[name]);
  return fields;
}

const nonNegative = z.coerce.number().int().nonnegative();
const unitSchema = z.strictObject({
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative().optional(),
  position: z.number().int().nonnegative(),
  done: z.boolean(),
});
const watermarksSchema = z.strictObject({
  topic: z.string().min(1),
  capturedAtMs: z.number().int().nonnegative(),
  partitions: z.array(partitionWatermark),
});
const fieldsSchema = z.object({
  format: z.literal(String(CHECKPOINT_FORMAT)),
  fingerprint: z.string().min(1),
  runUid: z.string().optional(),
  phase: z.enum(["running", "done", "interrupted", "failed"]),
  attempt: nonNegative,
  startedAtMs: nonNegative,
  updatedAtMs: nonNegative,
  finishedAtMs: z.string().optional(),
  error: z.string().optional(),
  waitingOn: z.string().optional(),
  waitingSinceMs: z.union([z.literal(""), nonNegative]).optional(),
  waitingError: z.string().optional(),
  watermarks: z.string().optional(),
  units: z.string(),
  failedCodes: z.string().optional(),
  ...Object.fromEntries(countNames.map((name) => [name, nonNegative.default(0)])),
});

/**
 * Decodes the hash; null for an empty hash (no checkpoint yet). A hash of another format or a
 * corrupt one throws: resuming from a misread checkpoint could skip work silently.
 */
export function decodeCheckpoint(fields: Record<string, string>): CheckpointState | null {
  if (Object.keys(fields).length === 0) return null;
  const parsed = fieldsSchema.safeParse(fields);
  if (!parsed.success)
    throw new PipelineError(
      PipelineErrorCodes.CHECKPOINT_CORRUPT,
      `bootstrap checkpoint is malformed: ${parsed.error.message}`,
    );
  const data = parsed.data as z.infer<typeof fieldsSchema> & Record<keyof ShardCounts, number>;
  const json = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new PipelineError(
        PipelineErrorCodes.CHECKPOINT_CORRUPT,
        `bootstrap checkpoint field ${what} is not JSON`,
        { cause },
      );
    }
  };
  const units = z.record(z.string(), unitSchema).safeParse(json(data.units, "units"));
  if (!units.success)
    throw new PipelineError(
      PipelineErrorCodes.CHECKPOINT_CORRUPT,
      `bootstrap checkpoint units are malformed: ${units.error.message}`,
    );
  let watermarks: CheckpointWatermarks | undefined;
  if (data.watermarks) {
    const result = watermarksSchema.safeParse(json(data.watermarks, "watermarks"));
    if (!result.success)
      throw new PipelineError(
        PipelineErrorCodes.CHECKPOINT_CORRUPT,
        `bootstrap checkpoint watermarks are malformed: ${result.error.message}`,
      );
    watermarks = result.data;
  }
  let failedCodes: Record<string, number> | undefined;
  if (data.failedCodes) {
    const result = z
      .record(z.string(), z.number().int().nonnegative())
      .safeParse(json(data.failedCodes, "failedCodes"));
    if (!result.success)
      throw new PipelineError(
        PipelineErrorCodes.CHECKPOINT_CORRUPT,
        `bootstrap checkpoint failedCodes are malformed: ${result.error.message}`,
      );
    failedCodes = result.data;
  }
  const counts = zeroCounts();
  for (const name of countNames) counts[name] = data[name];
  return {
    fingerprint: data.fingerprint,
    runUid: data.runUid || undefined,
    phase: data.phase,
    attempt: data.attempt,
    startedAtMs: data.startedAtMs,
    updatedAtMs: data.updatedAtMs,
    finishedAtMs: data.finishedAtMs ? Number(data.finishedAtMs) : undefined,
    error: data.error || undefined,
    waiting:
      data.waitingOn && typeof data.waitingSinceMs === "number"
        ? { dependency: data.waitingOn, sinceMs: data.waitingSinceMs, error: data.waitingError ?? "" }
        : undefined,
    watermarks,
    units: units.data,
    counts,
    ...(failedCodes !== undefined ? { failedCodes } : {}),
  };
}
