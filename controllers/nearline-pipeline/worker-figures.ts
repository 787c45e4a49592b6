// The pipeline's status from the workers' own figures: each worker's /readyz JSON (its totals since
// it started and its last minute's freshness sketch, pipelines/nearline/worker.ts) and the consumer
// lag per partition from its /metrics.
import { z } from "zod";
import type { PipelineVersionStatus } from "../../crds/index.ts";
import { mergeSketches, quantileOf, type FreshnessSketch } from "../../pipelines/shared/freshness-sketch.ts";

/** What one worker reported; either part is missing when the worker could not be read. */
export interface WorkerFigures {
  counts?: WorkerCounts | undefined;
  /** Records behind, per partition (partition -> lag). */
  lag?: ReadonlyMap<number, number> | undefined;
  /**
   * The pod (its UID) and when its worker process started (seconds since the epoch, from /metrics):
   * together they name one lifetime of the worker's counters, which begin at 0 in each process.
   */
  podUid?: string | undefined;
  processStartSeconds?: number | undefined;
  /** Event time -> store write acknowledged, over the worker's last minute. */
  freshness?: FreshnessSketch | undefined;
  /** The worker's batch in hand has been retried on an unavailable dependency this long (seconds). */
  waitingOn?: WorkerWait | undefined;
  /**
   * The pod is not running (pending, or ended: evicted, failed), so there is nothing to read; unlike a
   * running worker that did not answer, it holds no totals that the sums could be missing.
   */
  notRunning?: true;
  /**
   * The pod is marked for deletion (Terminating: draining, or stuck on a lost node): its figures still
   * count in the totals, but it is no longer one of its Deployment's workers.
   */
  deleting?: true;
}

/** What a worker's /readyz `waitingOn` says (pipelines/shared/dependency-wait.ts). */
export interface WorkerWait {
  dependency: string;
  seconds: number;
  error: string;
}

const waitBody = z.object({
  waitingOn: z.object({ dependency: z.string(), seconds: z.number().min(0), error: z.string() }),
});

/** The dependency wait in a worker's /readyz body, or undefined when its batch waits on nothing. */
export function parseWorkerWait(body: unknown): WorkerWait | undefined {
  const result = waitBody.safeParse(body);
  return result.success
    ? {
        dependency: result.data.waitingOn.dependency,
        seconds: result.data.waitingOn.seconds,
        error: result.data.waitingOn.error,
      }
    : undefined;
}

const count = z.int().min(0).catch(0);
const noReplays = { replays: 0, replayedOffsets: 0, lost: 0 };
const readyzBody = z.looseObject({
  consumed: count,
  embedded: count,
  skippedUnchanged: count,
  deleted: count,
  deadLettered: count,
  // Absent from workers of releases before them, and storeReplays until the first replay.
  sourceRecordsLost: count,
  storeReplays: z
    .object({ replays: count, replayedOffsets: count, lost: count })
    .catch(noReplays)
    .default(noReplays),
});

type ReadyzTotals = z.output<typeof readyzBody>;

/** A worker's totals as /readyz shows them (the ones the pipeline's status carries). */
export type WorkerCounts = Pick<
  ReadyzTotals,
  "consumed" | "embedded" | "skippedUnchanged" | "deleted" | "deadLettered"
> &
  Partial<Pick<ReadyzTotals, "sourceRecordsLost" | "storeReplays">>;

/** The totals in a worker's /readyz body, or undefined when it is not a worker's answer. */
export function parseWorkerReadyz(body: unknown): WorkerCounts | undefined {
  const result = readyzBody.safeParse(body);
  return result.success && typeof (body as { consumed?: unknown }).consumed === "number"
    ? {
        consumed: result.data.consumed,
        embedded: result.data.embedded,
        skippedUnchanged: result.data.skippedUnchanged,
        deleted: result.data.deleted,
        deadLettered: result.data.deadLettered,
        sourceRecordsLost: result.data.sourceRecordsLost,
        storeReplays: result.data.storeReplays,
      }
    : undefined;
}

const freshnessBody = z.object({
  freshness: z.object({
    gamma: z.number().positive(),
    windowMs: z.number().min(0),
    buckets: z.record(z.string().regex(/^-?\d+$/), z.int().min(0)),
  }),
});

/** The freshness sketch in a worker's /readyz body, or undefined when it has none (or a malformed one). */
export function parseWorkerFreshness(body: unknown): FreshnessSketch | undefined {
  const result = freshnessBody.safeParse(body);
  return result.success ? result.data.freshness : undefined;
}

const lagSample = /^jude_pipeline_consumer_lag\{([^}]*)\}\s+(\S+)/;
const partitionLabel = /(?:^|,)partition="(\d+)"/;

/** Lag per partition from a worker's Prometheus exposition (jude_pipeline_consumer_lag). */
export function parseConsumerLag(exposition: string): Map<number, number> {
  const lag = new Map<number, number>();
  for (const line of exposition.split("\n")) {
    const sample = lagSample.exec(line);
    const partition = sample === null ? null : partitionLabel.exec(sample[1]!);
    const value = sample === null ? Number.NaN : Number(sample[2]);
    if (partition !== null && Number.isFinite(value)) lag.set(Number(partition[1]), Math.max(0, value));
  }
  return lag;
}

const processStartSample = /^jude_pipeline_process_start_time_seconds\s+(\S+)/m;

/** When the worker process started, from its Prometheus exposition (prom-client's default metric). */
export function parseProcessStart(exposition: string): number | undefined {
  const value = Number(processStartSample.exec(exposition)?.[1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * One version's status from its workers' figures. Counts add up over workers (each counts its own
 * events). Lag is a property of the group's committed offsets, so several workers may report the same
 * partition: the largest report per partition counts once. Freshness is the 95th percentile of all
 * the workers' samples of the last minute. A figure no worker reported stays unset. Records lost and
 * store replays are running totals kept across worker restarts (./record-losses.ts), not sums here.
 */
export function versionStatus(
  version: string,
  readyReplicas: number,
  workers: readonly WorkerFigures[],
): PipelineVersionStatus {
  const status: PipelineVersionStatus = { version, readyReplicas };
  const counted = workers.flatMap((worker) => (worker.counts !== undefined ? [worker.counts] : []));
  if (counted.length > 0) {
    const sum = (figure: (counts: WorkerCounts) => number) =>
      counted.reduce((total, counts) => total + figure(counts), 0);
    status.processed = sum((counts) => counts.consumed);
    status.embedded = sum((counts) => counts.embedded);
    status.skippedUnchanged = sum((counts) => counts.skippedUnchanged);
    status.deleted = sum((counts) => counts.deleted);
    status.deadLettered = sum((counts) => counts.deadLettered);
  }
  const byPartition = new Map<number, number>();
  for (const worker of workers)
    for (const [partition, lag] of worker.lag ?? [])
      byPartition.set(partition, Math.max(lag, byPartition.get(partition) ?? 0));
  if (byPartition.size > 0) status.lag = [...byPartition.values()].reduce((total, lag) => total + lag, 0);
  // Freshness sketches add up bucket by bucket, so this is the p95 of every worker's samples together.
  const sketches = workers.flatMap((worker) => (worker.freshness !== undefined ? [worker.freshness] : []));
  const p95 = quantileOf(mergeSketches(sketches), 0.95);
  if (p95 !== undefined) status.freshnessP95Ms = Math.round(p95);
  return status;
}
