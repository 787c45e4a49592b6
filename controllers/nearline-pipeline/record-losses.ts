// Records a pipeline's workers could not write: source records Kafka retention deleted before they
// were read, and replays after the store lost acknowledged writes (pipelines/nearline, README
// "Delivery guarantees"). Each worker counts them since its process started (/readyz), so a sum over
// the workers falls when one restarts or is scaled away, and a worker that restarts and loses again
// within one poll may leave it where it was. The status carries a running total per version instead:
// the total it carried before plus what each worker process reports beyond its last read, and a
// Warning Event tells what is new. The last reads are remembered per pod and process start, with the
// totals written from them (LossLedger): those totals, not the status the cache shows (it may not show
// the last write yet), are what the next poll adds to. With none remembered (the operator just
// started, or leads now) the status's totals and the last reads written with them (./loss-reads.ts)
// are the baseline: what a process lost while the operator was down is counted as at any poll, and
// nothing already in the totals is told again. A status without those reads (written by a release
// before them) is counted as that release did: only what the workers' sum adds to it is new.
import type { PipelineVersionStatus } from "../../crds/index.ts";
import { readsInStatus, statusReads } from "./loss-reads.ts";
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
  /** Undefined while a running worker was not read after a start from a status without last reads. */
  seen: SeenProcesses | undefined;
}

/**
 * Counts the losses of one version's `workers` (each carrying its pod UID) against `before`, the
 * version's status as the cache shows it, and what the ledger remembers: `remembered`, the last reads
 * (undefined: none, or not all read yet after a status without them), and `written`, the totals
 * written from them (the baseline then, in place of `before`'s). With neither remembered, the last
 * reads and totals are `before`'s.
 */
export function countLosses(
  before: PipelineVersionStatus | undefined,
  remembered: SeenProcesses | undefined,
  workers: readonly WorkerFigures[],
  written?: Losses,
): CountedLosses {
  const seen = remembered ?? (written === undefined ? readsInStatus(before) : undefined);
  const baseline = written ?? lossesIn(before);
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
    // Which of the workers' losses the totals already count is unknown (a status without last reads):
    // only a sum above them is new.
    // A running worker not read yet may hold counted ones: remember nothing until all are read.
    const sum = read.reduce((total, { process }) => plus(total, process.losses), none);
    const added = combine(sum, baseline, (now, told) => Math.max(0, now - told));
    const allRead = workers.every((worker) => worker.counts !== undefined || worker.notRunning === true);
    return { totals: plus(baseline, added), added, seen: allRead ? next : undefined };
  }
  let added = none;
  for (const { pod, process } of read) {
    const last = seen.get(pod);
    // Counters only grow within a process: one lower than before began again at 0.
    const grew = last !== undefined && fields.every((field) => process.losses[field] >= last.losses[field]);
    if (last?.processStartSeconds !== undefined && process.processStartSeconds === undefined && grew) {
      // Its /readyz answered but not its /metrics: whether the process restarted is unknown. Taken
      // for the same process, a restart that lost more than before would be counted only as far as
      // it exceeds the last read, and remembered without a start, never told in full: the read waits
      // for one with the process start.
      next.set(pod, last);
      continue;
    }
    const sameProcess =
      grew &&
      (last.processStartSeconds === undefined ||
        process.processStartSeconds === undefined ||
        last.processStartSeconds === process.processStartSeconds);
    added = plus(added, sameProcess ? combine(process.losses, last.losses, (x, y) => x - y) : process.losses);
  }
  // A worker not read this time (not answering, or its pod not running for now: a phase Unknown may
  // turn Running again, the same process) keeps its last read; a pod gone is forgotten, its losses
  // staying in the totals.
  for (const worker of workers)
    if (worker.counts === undefined && worker.podUid !== undefined) {
      const last = seen.get(worker.podUid);
      if (last !== undefined) next.set(worker.podUid, last);
    }
  return { totals: plus(baseline, added), added, seen: next };
}

/**
 * `status` with the loss totals and the last reads they were counted from (./loss-reads.ts), set
 * only once there is a total, so a quiet status stays short.
 */
export function withLosses(
  status: PipelineVersionStatus,
  { totals, seen }: CountedLosses,
): PipelineVersionStatus {
  const { sourceRecordsLost: _lost, storeReplays: _replays, lossReads: _reads, ...rest } = status;
  const lossReads = seen === undefined ? undefined : statusReads(seen, totals);
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
    ...(lossReads !== undefined ? { lossReads } : {}),
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
      message: `version ${version}: the store lost acknowledged writes; its workers replayed from the store's recorded offsets (${plural(added.replays, "replay", "replays")}, ${added.replayedOffsets} offsets read again, ${added.replayLost} records retention had deleted; ${plural(totals.replays, "replay", "replays")} in all)`,
    });
  return events;
}

/**
 * What the ledger holds for one pipeline version: the last reads (none while a running worker was not
 * read after a start from a status without them), and the totals written from them.
 */
export interface RememberedLosses {
  seen: SeenProcesses | undefined;
  totals: Losses;
}

/**
 * Remembers the last reads of each pipeline version's worker processes, and the totals written from
 * them, while the operator runs. Per pipeline UID: a pipeline deleted and made again under the same
 * name starts afresh. Bounded: a version holds its current pods only, and is forgotten with its
 * pipeline or version.
 */
export class LossLedger {
  readonly #remembered = new Map<string, RememberedLosses & { uid: string | undefined }>();

  /** What is remembered of `version` of the pipeline `pipelineKey` (UID `uid`), or undefined. */
  recall(pipelineKey: string, uid: string | undefined, version: string): RememberedLosses | undefined {
    const entry = this.#remembered.get(`${pipelineKey} ${version}`);
    return entry?.uid === uid ? entry : undefined;
  }

  /**
   * Keeps what `counted` saw and totalled, once the status carrying it is written: the totals even
   * without the reads, so the next count adds to them rather than to a status the cache may not
   * show yet.
   */
  remember(pipelineKey: string, uid: string | undefined, version: string, counted: CountedLosses): void {
    this.#remembered.set(`${pipelineKey} ${version}`, { uid, seen: counted.seen, totals: counted.totals });
  }

  /** Forgets every version of a pipeline (deleted), or the versions not in `live`. */
  forget(pipelineKey: string, live: readonly string[] = []): void {
    for (const key of this.#remembered.keys()) {
      const [owner, version] = key.split(" ");
      if (owner === pipelineKey && !live.includes(version!)) this.#remembered.delete(key);
    }
  }
}
