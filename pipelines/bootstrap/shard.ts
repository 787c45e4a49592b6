/**
 * One bootstrap shard from start to finish: resume or start its checkpoint, fix the watermarks, lay out
 * its units (partitions or files), stream their batches through the batch writer with a few batches in
 * flight, and checkpoint strictly in order, so the checkpoint only ever covers completely written work.
 *
 * The outcome is `done` only when every unit is written; an abort (SIGTERM) stops reading, checkpoints
 * the batches in flight that finish without waiting, and ends `interrupted`, which the caller must
 * report as failure: the Job must run the shard again, and the rerun resumes from the checkpoint. The
 * abort also ends the waits that could outlast the pod's grace period (a text another shard has
 * claimed, retries of an unavailable embedding server or of one that fails every call, or of a whole
 * batch): such a batch is abandoned, with the batches after it, and the checkpoint stays at the last
 * batch written; the texts it already embedded are in the text cache, so the rerun reuses them.
 */
import type { Logger } from "pino";
import type { Store } from "../../store/index.ts";
import { getVersion, markVersionComplete, registerVersion } from "../../store/index.ts";
import type { CheckpointState, ShardCounts, UnitPosition } from "./checkpoint-codec.ts";
import { addFailedCodes, zeroCounts } from "./checkpoint-codec.ts";
import { readRunCheckpoints, type CheckpointStore } from "./checkpoint-store.ts";
import type { BootstrapConfig, PartitionWatermark } from "./config.ts";
import type { EntityStore } from "../shared/entity-writes.ts";
import {
  createEntityBatchWriter,
  type BatchCounts,
  type BatchWritten,
  type EntityBatchOptions,
} from "./entity-batch.ts";
import type { OpenedFile } from "./jsonl-source.ts";
import { filesOfShard, partitionsOfShard } from "./sharding.ts";
import {
  fileBatches,
  kafkaPartitionBatches,
  type RecordInterpreter,
  type UnitBatch,
} from "./source-units.ts";
import type { SourceRecord } from "../shared/decode.ts";
import { createInterpreter, workFingerprint } from "./work.ts";
import { failureReporter } from "./failure-log.ts";
import type { ShardWaits } from "./shard-waits.ts";
import { retry } from "../../plumbing/retry.ts";
import { untilAborted } from "../../plumbing/until-aborted.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

/** What a shard reads Kafka with (KafkaRangeReader implements it). */
export interface RangeSource {
  captureWatermarks(): Promise<PartitionWatermark[]>;
  startOffsets(partitions: readonly number[]): Promise<Map<number, number>>;
  read(partition: number, from: number, to: number): AsyncIterable<SourceRecord[]>;
}

export interface ShardDependencies {
  readonly store: Store;
  readonly writer: EntityStore;
  readonly checkpoints: CheckpointStore;
  /** Vectors for texts (a TextVectors instance's `vectorsFor`). */
  readonly vectorsFor: EntityBatchOptions["vectorsFor"];
  readonly kafka?: RangeSource | undefined;
  readonly openFile?: ((uri: string, position: number) => Promise<OpenedFile>) | undefined;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
  /** Failures after which a batch is retried whole (it is idempotent) instead of failing the shard. */
  readonly isRetryable: (error: unknown) => boolean;
  /** Failures that are the abort cancelling a call in flight (an embedding call cancelled on SIGTERM). */
  readonly isCancelled?: ((error: unknown) => boolean) | undefined;
  readonly onRetry?: ((error: unknown) => void) | undefined;
  /** Called after every checkpoint write with the new state and the counts it added. */
  readonly onCheckpoint?: ((state: CheckpointState, added: ShardCounts) => void) | undefined;
  /** Where the shard's waits are told; attached to its checkpoint once loaded (shard-waits.ts). */
  readonly waits?: ShardWaits | undefined;
}

/** How a shard ended. */
export interface ShardOutcome {
  readonly outcome: "done" | "interrupted";
  readonly state: CheckpointState;
  readonly resumed: boolean;
}

type TaggedBatch = UnitBatch & { readonly unit: string };

/**
 * SIGTERM stopped the shard while a start-up step waited out a store outage, before it had begun its
 * checkpoint (the begin abandoned in flight either never arrived or took an attempt number, nothing
 * more): the caller exits 75, interrupted, and the Job runs the shard again.
 */
export class InterruptedBeforeStart extends Error {
  constructor(step: string, options?: ErrorOptions) {
    super(`stopped by the abort while ${step} waited out a store outage`, options);
    this.name = "InterruptedBeforeStart";
  }
}

/** A store step whose wait through an outage the abort ended (see `ridingOutage`). */
class StoppedByAbort extends Error {
  constructor(step: string, options?: ErrorOptions) {
    super(`stopped by the abort while ${step} waited out a store outage`, options);
    this.name = "StoppedByAbort";
  }
}

/** How `ridingOutage` retries and stops. */
export interface OutageOptions {
  readonly isRetryable: (error: unknown) => boolean;
  readonly onRetry?: ((error: unknown) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs an idempotent store step, retrying it through a store outage for as long as it lasts. The abort
 * (SIGTERM) ends that wait at once, its call in flight abandoned (`onAbandoned` gets its result, should
 * it still arrive): a `StoppedByAbort` (or, from `ridingOutageAtStart`, an InterruptedBeforeStart)
 * instead of a wait until the pod's grace period ends in SIGKILL (exit 137, counted against the Job's
 * backoffLimit). Aborted before: its first attempt still runs (retry), bounded by the store's command
 * timeout, unless the work itself heeds the signal (the store's open drops its connection at once). A
 * failure no retry helps is thrown as it is.
 */
async function ridingOutage<T>(
  step: string,
  work: () => Promise<T>,
  options: OutageOptions,
  onAbandoned?: (value: T) => void,
): Promise<T> {
  const { signal } = options;
  const attempts = retry(work, { isRetryable: options.isRetryable, onRetry: options.onRetry, signal });
  try {
    return signal === undefined || signal.aborted ? await attempts : await untilAborted(attempts, signal);
  } catch (error) {
    // The abort's reason, a wait it cut short (AbortError), or a store failure it stopped retrying.
    const cutShort =
      error === signal?.reason ||
      (error instanceof Error && error.name === "AbortError") ||
      options.isRetryable(error);
    if (signal?.aborted !== true || !cutShort) throw error;
    if (onAbandoned !== undefined) attempts.then(onAbandoned, () => undefined);
    throw new StoppedByAbort(step, { cause: error });
  }
}

/** `ridingOutage` for a step before the shard has a checkpoint: the abort ends it InterruptedBeforeStart. */
export async function ridingOutageAtStart<T>(
  step: string,
  work: () => Promise<T>,
  options: OutageOptions,
  onAbandoned?: (value: T) => void,
): Promise<T> {
  try {
    return await ridingOutage(step, work, options, onAbandoned);
  } catch (error) {
    if (error instanceof StoppedByAbort) throw new InterruptedBeforeStart(step, { cause: error.cause });
    throw error;
  }
}

/**
 * Runs the shard; resolves with its outcome, rejects (after checkpointing `failed`, unless its
 * checkpoint is already saved `done`) on an error. Every store step rides out an outage, and SIGTERM
 * ends such a wait: `interrupted`, the outcome's state the last checkpoint saved; before the checkpoint
 * is begun, InterruptedBeforeStart.
 */
export async function runShard(config: BootstrapConfig, deps: ShardDependencies): Promise<ShardOutcome> {
  const now = Date.now();
  const fingerprint = workFingerprint(config, deps.store.layout.prefix);
  const outage: OutageOptions = { isRetryable: deps.isRetryable, onRetry: deps.onRetry, signal: deps.signal };
  // Retried whole: one whose write arrived but whose answer was lost only leaves an attempt number unused.
  const { state, resumed } = await ridingOutageAtStart(
    "beginning the checkpoint",
    () =>
      deps.checkpoints.begin(fingerprint, () => ({
        fingerprint,
        runUid: config.run.uid,
        phase: "running",
        attempt: 0,
        startedAtMs: now,
        updatedAtMs: now,
        units: {},
        counts: zeroCounts(),
      })),
    outage,
  );
  // What the store holds: an abort that abandons a save reports this, not what was never saved.
  let saved = structuredClone(state);
  // A save is idempotent (retried after its reply was lost it keeps the pending counts the landed one
  // absorbed: checkpoint-store.ts), so riding out an outage retries it as it is.
  const persist = async (snapshot: CheckpointState): Promise<void> => {
    await ridingOutage("a checkpoint save", () => deps.checkpoints.save(snapshot), outage);
    saved = structuredClone(snapshot);
  };
  // A wait is saved into the current checkpoint (positions as committed), cleared by the next commit.
  deps.waits?.attach(async (waiting) => {
    if (state.phase !== "running") return;
    state.waiting = waiting;
    await deps.checkpoints.save(state);
  });
  const { logger } = deps;
  logger.info(
    { attempt: state.attempt, resumed, phase: state.phase, counts: state.counts },
    "shard starting",
  );
  if (state.phase === "done") {
    // Finished before (e.g. the pod died between its last checkpoint and its exit): only make sure the
    // version is marked complete if this was the last shard.
    const completion = await completeVersionIfRunDone(config, deps);
    return { outcome: completion === "interrupted" ? "interrupted" : "done", state, resumed };
  }
  try {
    await ridingOutage("preparing the version", () => prepareVersion(deps.store, config), outage);
    await layOutUnits(config, deps, state);
    await persist(state);
    const aborted = await processUnits(config, deps, state, persist);
    state.waiting = undefined;
    if (aborted) {
      state.phase = "interrupted";
      await persist({ ...state, updatedAtMs: Date.now() });
      return { outcome: "interrupted", state, resumed };
    }
    state.phase = "done";
    state.finishedAtMs = Date.now();
    await persist({ ...state, updatedAtMs: state.finishedAtMs });
    // Interrupted there (SIGTERM while the store is out): the checkpoint stays done, and the Job's
    // rerun of this shard (exit 75) marks the version complete; done would leave it incomplete.
    const completion = await completeVersionIfRunDone(config, deps);
    return { outcome: completion === "interrupted" ? "interrupted" : "done", state, resumed };
  } catch (caught) {
    let error = caught;
    if (!(error instanceof StoppedByAbort) && cutShortByAbort(error, deps)) {
      // The abort ended a wait on the source as the shard laid out its units (Kafka that does not
      // answer its offset requests): interrupted like a stop between batches; the rerun lays them out.
      logger.info({ err: error }, "laying out the units stopped by the abort");
      try {
        state.phase = "interrupted";
        state.waiting = undefined;
        await persist({ ...state, updatedAtMs: Date.now() });
        return { outcome: "interrupted", state, resumed };
      } catch (saving) {
        error = saving;
      }
    }
    if (error instanceof StoppedByAbort) {
      // The store is out: no `interrupted` save either. The checkpoint is the last one saved, which
      // the rerun resumes from; a batch whose save was abandoned is written again (idempotent).
      logger.info({ err: error, phase: saved.phase }, "stopped by the abort during a store outage");
      return { outcome: "interrupted", state: saved, resumed };
    }
    // Its work is saved done (only marking the version complete failed): `failed` would read as
    // unfinished work. The rerun finds it done and marks the version complete.
    if (saved.phase === "done") throw error;
    state.phase = "failed";
    state.waiting = undefined;
    state.error = String((error as Error).message ?? error).slice(0, 1000);
    await deps.checkpoints.save({ ...state, updatedAtMs: Date.now() }).catch(() => undefined);
    throw error;
  }
}

/**
 * Registers the version with its entity's prompt template (idempotent; another model digest or
 * template than registered is refused, saying which) and refuses one that is
 * being deleted: writing into it would recreate the keys garbage collection is removing.
 */
async function prepareVersion(store: Store, config: BootstrapConfig): Promise<void> {
  const info = await getVersion(store, config.model.version);
  if (info?.state === "deleting") {
    throw new PipelineError(
      PipelineErrorCodes.VERSION_DELETING,
      `version ${config.model.version} is being deleted; a bootstrap would recreate its keys`,
    );
  }
  await registerVersion(store, config.model.version, {
    modelDigest: config.model.digest,
    dimension: config.model.dimensions,
    dtype: config.store.dtype,
    prompts: { [config.entity]: config.model.template },
    vectorSettings: config.model.vectorSettings,
  });
}

/** Fixes the watermarks (once per run) and adds this shard's units to the checkpoint. */
async function layOutUnits(
  config: BootstrapConfig,
  deps: ShardDependencies,
  state: CheckpointState,
): Promise<void> {
  const { count, index } = config.shards;
  const kafka = config.source.kafka;
  if (kafka !== undefined) {
    if (deps.kafka === undefined) throw new Error("a kafka source needs a Kafka reader");
    if (state.watermarks === undefined) {
      const partitions = kafka.watermarks ?? (await deps.kafka.captureWatermarks());
      state.watermarks = { topic: kafka.topic, capturedAtMs: Date.now(), partitions };
      deps.logger.info(
        { watermarks: partitions, fromConfig: kafka.watermarks !== undefined },
        "watermarks fixed",
      );
    }
    const ends = new Map(state.watermarks.partitions.map((each) => [each.partition, each.offset]));
    const mine = partitionsOfShard([...ends.keys()], count, index).filter(
      (partition) => state.units[`p${partition}`] === undefined,
    );
    const starts = await deps.kafka.startOffsets(mine);
    for (const partition of mine) {
      const end = ends.get(partition)!;
      const start = Math.min(starts.get(partition) ?? 0, end);
      state.units[`p${partition}`] = { start, end, position: start, done: start >= end };
    }
    return;
  }
  const share = filesOfShard(config.source.files!.uris, config.source.files!.split, count, index);
  for (const file of share.files)
    state.units[`f${file.fileIndex}`] ??= { start: 0, position: 0, done: false };
}

/** Streams every unfinished unit's batches through the writer; returns true when aborted. */
async function processUnits(
  config: BootstrapConfig,
  deps: ShardDependencies,
  state: CheckpointState,
  persist: (state: CheckpointState) => Promise<void>,
): Promise<boolean> {
  const interpreter = createInterpreter(config);
  const writeBatch = createEntityBatchWriter({
    entity: config.entity,
    version: config.model.version,
    modelDigest: config.model.digest,
    store: deps.writer,
    vectorsFor: deps.vectorsFor,
  });
  const window: { batch: TaggedBatch; written: Promise<BatchWritten> }[] = [];
  const reportFailures = failureReporter(deps.logger);
  const commitOldest = async (): Promise<void> => {
    const { batch, written } = window.shift()!;
    let result: BatchWritten;
    try {
      result = await written;
    } catch (error) {
      // After the abort a batch fails when its waits or retries are cut short: it and every batch after
      // it stay out of the checkpoint (strictly in order), and a rerun writes them. A batch that failed
      // for good still fails the shard, abort or not.
      if (!cutShortByAbort(error, deps)) throw error;
      const later = window.splice(0);
      // Let them settle first: a request that returned meanwhile still puts its vectors into the text
      // cache (and counts them `embedded`), so the rerun does not embed those texts again.
      await Promise.allSettled(later.map((each) => each.written));
      deps.logger.info(
        { err: error, batches: 1 + later.length, unit: batch.unit },
        "batches in flight abandoned by the abort; a rerun writes them",
      );
      return;
    }
    const { counts, failures, failedCodes } = result;
    const added = commit(state, batch, counts, failedCodes);
    const embeddedBefore = state.counts.embedded;
    await persist(state);
    deps.waits?.checkpointed();
    added.embedded = state.counts.embedded - embeddedBefore;
    // Logged once the batch is checkpointed, so a retried or killed batch does not log its records twice.
    reportFailures({ ...batch, failures: [...(batch.failures ?? []), ...failures] });
    deps.onCheckpoint?.(state, added);
  };
  const batches = allBatches(config, deps, state, interpreter);
  try {
    return await streamBatches();
  } finally {
    // A save the abort stopped during a store outage leaves the rest unread: close the source.
    await batches.return(undefined).catch(() => undefined);
  }

  async function streamBatches(): Promise<boolean> {
    for (;;) {
      let next: IteratorResult<TaggedBatch>;
      try {
        next = await batches.next();
      } catch (error) {
        // Only reading may be cut short by the abort; a failed batch below always fails the shard, or
        // the batches after it would move the checkpoint past entities that were never written.
        if (!deps.signal?.aborted) throw error;
        deps.logger.info({ err: error }, "reading stopped by the abort");
        break;
      }
      if (next.done) break;
      const batch = next.value;
      const written = retry(() => writeBatch(batch.entities), {
        isRetryable: deps.isRetryable,
        onRetry: deps.onRetry,
        signal: deps.signal,
      });
      written.catch(() => undefined); // awaited in order by commitOldest; avoid an unhandled rejection meanwhile
      window.push({ batch, written });
      while (window.length >= config.batching.inflightBatches) await commitOldest();
      if (deps.signal?.aborted) {
        await batches.return(undefined);
        break;
      }
    }
    while (window.length > 0) await commitOldest();
    return deps.signal?.aborted === true && Object.values(state.units).some((unit) => !unit.done);
  }
}

/**
 * Whether a batch's failure only says the abort cut it short: the signal's reason (a wait or a permit),
 * an AbortError (a timer), a retryable failure whose retries the abort stopped, or a cancelled call.
 */
function cutShortByAbort(error: unknown, deps: ShardDependencies): boolean {
  const signal = deps.signal;
  if (signal?.aborted !== true) return false;
  return (
    error === signal.reason ||
    (error instanceof Error && error.name === "AbortError") ||
    deps.isRetryable(error) ||
    deps.isCancelled?.(error) === true
  );
}

async function* allBatches(
  config: BootstrapConfig,
  deps: ShardDependencies,
  state: CheckpointState,
  interpreter: RecordInterpreter,
): AsyncGenerator<TaggedBatch> {
  const maxEntities = config.batching.maxEntities;
  for (const [unitId, unit] of Object.entries(state.units)) {
    if (unit.done) continue;
    if (deps.signal?.aborted) return;
    let batches: AsyncGenerator<UnitBatch>;
    if (unitId.startsWith("p")) {
      const partition = Number(unitId.slice(1));
      deps.logger.info({ partition, ...unit }, "replaying partition");
      batches = kafkaPartitionBatches(
        deps.kafka!.read(partition, unit.start, unit.end!),
        unit,
        interpreter,
        maxEntities,
      );
    } else {
      const uri = config.source.files!.uris[Number(unitId.slice(1))]!;
      const opened = await deps.openFile!(uri, unit.position);
      unit.end = opened.totalBytes;
      deps.logger.info({ uri, ...unit }, "reading file");
      batches = fileBatches(opened.lines, unit, interpreter, maxEntities);
    }
    for await (const batch of batches) yield { ...batch, unit: unitId };
  }
}

function addedCounts(batch: UnitBatch, written: BatchCounts): ShardCounts {
  const added = zeroCounts();
  for (const part of [batch.counts, written] as Partial<ShardCounts>[]) {
    for (const [name, value] of Object.entries(part)) added[name as keyof ShardCounts] += value;
  }
  return added;
}

function commit(
  state: CheckpointState,
  batch: TaggedBatch,
  written: BatchCounts,
  writtenFailedCodes: Readonly<Record<string, number>>,
): ShardCounts {
  const unit: UnitPosition = state.units[batch.unit]!;
  unit.position = batch.position;
  unit.done = batch.done;
  // `embedded` is counted when the texts are embedded (pending counts, checkpoint-store.ts) and
  // arrives with this save (its stored total); the batch's own figure only splits its entities into
  // embedded and deduplicated.
  const added = addedCounts(batch, { ...written, embedded: 0 });
  for (const name of Object.keys(added) as (keyof ShardCounts)[]) state.counts[name] += added[name];
  const failedCodes = { ...state.failedCodes };
  addFailedCodes(failedCodes, batch.failedCodes);
  addFailedCodes(failedCodes, writtenFailedCodes);
  state.failedCodes = failedCodes;
  state.updatedAtMs = Date.now();
  state.waiting = undefined; // a batch got through: whatever waited is over
  return added;
}

/**
 * Marks the version complete when every shard of the run is done (whichever shard sees it first). A
 * run restricted by `scope` fills only part of the version, so it never marks it complete. Rides out a
 * store outage like the checkpoint saves (both steps are idempotent): this shard's work is saved, and
 * failing here would spend a pod retry on nothing, or fail the run at its backoffLimit. The abort
 * (SIGTERM) ends that wait at once, its call in flight abandoned: `interrupted`, so the Job runs the
 * shard again (its checkpoint done) instead of the pod's grace period ending in SIGKILL.
 */
async function completeVersionIfRunDone(
  config: BootstrapConfig,
  deps: ShardDependencies,
): Promise<"complete" | "incomplete" | "interrupted"> {
  const { ids, eventTimeFrom, eventTimeTo } = config.scope;
  if (ids !== undefined || eventTimeFrom !== undefined || eventTimeTo !== undefined) return "incomplete";
  let completed: boolean;
  try {
    completed = await ridingOutage(
      "marking the version complete",
      async () => {
        const shards = await readRunCheckpoints(
          deps.store.client,
          deps.store.layout.prefix,
          config.run,
          config.shards.count,
        );
        if (!shards.every((shard) => shard?.phase === "done")) return false;
        await markVersionComplete(deps.store, config.model.version);
        return true;
      },
      { isRetryable: deps.isRetryable, onRetry: deps.onRetry, signal: deps.signal },
    );
  } catch (error) {
    if (!(error instanceof StoppedByAbort)) throw error;
    deps.logger.info(
      { err: error.cause, version: config.model.version },
      "stopped by the abort while marking the version complete; a rerun of the shard marks it",
    );
    return "interrupted";
  }
  if (!completed) return "incomplete";
  deps.logger.info({ version: config.model.version }, "every shard done: version marked complete");
  return "complete";
}
