// Records a pipeline's workers could not write: source records Kafka retention deleted before they
// were read, and replays after the store lost acknowledged writes (pipelines/nearline, README
// "Delivery guarantees"). Each worker counts them since its process started (/readyz), so a sum over
// the workers falls when one restarts or is scaled away, and a worker that restarts and loses again
// within one poll may leave it where it was. The status carries a running total per version instead:
// the total it carried before plus what each worker process reports beyond its last read, and a
// Warning Event tells what is new. The last reads are remembered per pod and process start
// (LossLedger). With none remembered (the operator just started) the status is the baseline: only
// what the workers' sum adds to it is new, and nothing already in it is told again.
import type { PipelineVersionStatus } from "../../crds/index.ts";
import type { WorkerCounts, WorkerFigures } from "./worker-figures.ts";

/** The Event reasons recorded here. */
export const lossEventReasons = ["SourceRecordsLost", "StoreReplayed"] as const;

/** A Warning Event to record. */
export interface LossEvent {
  reason: (typeof lossEventReasons)[number];
  message: string;
}

/** Loss counters, 0 while none (`replayLost` is storeReplays.lost). */
export interface Losses {
  sourceRecordsLost: number;
  replays: number;
  replayedOffsets: number;
  replayLost: number;
}

/** What one worker process reported at its last read. */
export interface ProcessLosses {
  processStartSeconds?: number | undefined;
  losses: Losses;
}

/** The last reads of a version's worker processes, by pod UID. */
export type SeenProcesses = ReadonlyMap<string, ProcessLosses>;

const fields = ["sourceRecordsLost", "replays", "replayedOffsets", "replayLost"] as const;
const none: Losses = { sourceRecordsLost: 0, replays: 0, replayedOffsets: 0, replayLost: 0 };
const combine = (a: Losses, b: Losses, op: (x: number, y: number) => number): Losses =>
  Object.fromEntries(fields.map((field) => [field, op(a[field], b[field])])) as unknown as Losses;
const plus = (a: Losses, b: Losses) => combine(a, b, (x, y) => x + y);

function lossesOf(counts: WorkerCounts): Losses {
  return {
    sourceRecordsLost: counts.sourceRecordsLost ?? 0,
    replays: counts.storeReplays?.replays ?? 0,
    replayedOffsets: counts.storeReplays?.replayedOffsets ?? 0,
    replayLost: counts.storeReplays?.lost ?? 0,
  };
}

function lossesIn(status: PipelineVersionStatus | undefined): Losses {
  return {
    sourceRecordsLost: status?.sourceRecordsLost ?? 0,
    replays: status?.storeReplays?.replays ?? 0,
    replayedOffsets: status?.storeReplays?.replayedOffsets ?? 0,
    replayLost: status?.storeReplays?.lost ?? 0,
  };
}

/** The counting of one poll: the new running totals, what is new in them, and what to remember. */
export interface CountedLosses {
  totals: Losses;
  added: Losses;
  /** Undefined while a running worker was not read after a start with nothing remembered. */
  seen: SeenProcesses | undefined;
}

/**
 * Counts the losses of one version's `workers` (each carrying its pod UID) against `before`, the
 * version's status as last written, and `seen`, the last reads remembered (undefined: none).
 */
export function countLosses(
  before: PipelineVersionStatus | undefined,
  seen: SeenProcesses | undefined,
  workers: readonly WorkerFigures[],
): CountedLosses {
  const baseline = lossesIn(before);
  const read = workers.flatMap((worker) =>
    worker.counts !== undefined && worker.podUid !== undefined
      ? [
          {
            pod: worker.podUid,
            process: { processStartSeconds: worker.processStartSeconds, losses: lossesOf(worker.counts) },
          },
        ]
      : [],
  );
  const next = new Map<string, ProcessLosses>(read.map(({ pod, process }) => [pod, process]));
  if (seen === undefined) {
    // Which of the workers' losses the status already counts is unknown: only a sum above it is new.
    // A running worker not read yet may hold counted ones: remember nothing until all are read.
    const sum = read.reduce((total, { process }) => plus(total, process.losses), none);
    const added = combine(sum, baseline, (now, told) => Math.max(0, now - told));
    const allRead = workers.every((worker) => worker.counts !== undefined || worker.notRunning === true);
    return { totals: plus(baseline, added), added, seen: allRead ? next : undefined };
  }
  let added = none;
  for (const { pod, process } of read) {
    const last = seen.get(pod);
    const sameProcess =
      last !== undefined &&
      (last.processStartSeconds === undefined ||
        process.processStartSeconds === undefined ||
        last.processStartSeconds === process.processStartSeconds) &&
      // Counters only grow within a process: one lower than before began again at 0.
      fields.every((field) => process.losses[field] >= last.losses[field]);
    added = plus(added, sameProcess ? combine(process.losses, last.losses, (x, y) => x - y) : process.losses);
  }
  // A running worker not read this time keeps its last read; a pod gone (or no longer running) is
  // forgotten, its losses staying in the totals.
  for (const worker of workers)
    if (worker.counts === undefined && worker.notRunning !== true && worker.podUid !== undefined) {
      const last = seen.get(worker.podUid);
      if (last !== undefined) next.set(worker.podUid, last);
    }
  return { totals: plus(baseline, added), added, seen: next };
}

/** `status` with the loss totals, set only once there is one, so a quiet status stays short. */
export function withLosses(status: PipelineVersionStatus, totals: Losses): PipelineVersionStatus {
  const { sourceRecordsLost: _lost, storeReplays: _replays, ...rest } = status;
  return {
    ...rest,
    ...(totals.sourceRecordsLost > 0 ? { sourceRecordsLost: totals.sourceRecordsLost } : {}),
    ...(totals.replays > 0
      ? {
          storeReplays: {
            replays: totals.replays,
            replayedOffsets: totals.replayedOffsets,
            lost: totals.replayLost,
          },
        }
      : {}),
  };
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/** The Warnings for the losses a poll found new in `version` (its totals, what `added`). */
export function lossEvents(version: string, { totals, added }: CountedLosses): LossEvent[] {
  const events: LossEvent[] = [];
  if (added.sourceRecordsLost > 0)
    events.push({
      reason: "SourceRecordsLost",
      message: `version ${version}: ${plural(added.sourceRecordsLost, "source record was", "source records were")} deleted by retention before its workers read them (${totals.sourceRecordsLost} in all); their changes are not in the store`,
    });
  if (added.replays > 0)
    events.push({
      reason: "StoreReplayed",
      message: `version ${version}: the store lost acknowledged writes; its workers replayed from the store's recorded offsets (${plural(added.replays, "replay", "replays")}, ${added.replayedOffsets} offsets read again, ${added.replayLost} records retention had deleted; ${totals.replays} in all)`,
    });
  return events;
}

/**
 * Remembers the last reads of each pipeline version's worker processes, while the operator runs.
 * Bounded: a version holds its current pods only, and is forgotten with its pipeline or version.
 */
export class LossLedger {
  readonly #seen = new Map<string, SeenProcesses>();

  /** The last reads of `version` of the pipeline `pipelineKey`, or undefined when none are known. */
  seen(pipelineKey: string, version: string): SeenProcesses | undefined {
    return this.#seen.get(`${pipelineKey} ${version}`);
  }

  /** Keeps `seen` (once the status carrying its totals is written), or forgets it when undefined. */
  remember(pipelineKey: string, version: string, seen: SeenProcesses | undefined): void {
    if (seen === undefined) this.#seen.delete(`${pipelineKey} ${version}`);
    else this.#seen.set(`${pipelineKey} ${version}`, seen);
  }

  /** Forgets every version of a pipeline (deleted), or the versions not in `live`. */
  forget(pipelineKey: string, live: readonly string[] = []): void {
    for (const key of this.#seen.keys()) {
      const [owner, version] = key.split(" ");
      if (owner === pipelineKey && !live.includes(version!)) this.#seen.delete(key);
    }
  }
}
