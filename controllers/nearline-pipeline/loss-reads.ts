// The last reads of a version's worker processes as its status carries them (status.versions[].
// lossReads), written in the same status write as the loss totals counted from them, so the pair is
// always one consistent snapshot: an operator that starts (restarted, or a new leader, whose cache is
// listed afresh once it leads) counts from it what each process reports beyond its last read, as the
// LossLedger does while the operator runs, instead of taking the status totals as the baseline of the
// workers' sum (which undercounts a worker that restarted and lost again meanwhile). In the status,
// not an annotation: an annotation would be a second write (a crash between the two would count
// twice or never), a change to the user's object, and a watch event for every controller of it.
import { maxLossReads, type PipelineLossRead, type PipelineVersionStatus } from "../../crds/index.ts";
import type { Losses, SeenProcesses } from "./record-losses.ts";

const counted = (losses: Losses) => losses.sourceRecordsLost > 0 || losses.replays > 0;

/** Whether a version's status carries a loss total (what withLosses writes once there is one). */
export function carriesLossTotals(status: PipelineVersionStatus | undefined): boolean {
  return (status?.sourceRecordsLost ?? 0) > 0 || status?.storeReplays !== undefined;
}

/**
 * The last reads `status` carries, by pod UID. A process not there reported no loss at its last
 * read (or was not read yet): all it reports is new. Undefined when the status has totals and no
 * reads (written by a release before them, or past maxLossReads): which of the workers' losses it
 * counts is unknown then.
 */
export function readsInStatus(status: PipelineVersionStatus | undefined): SeenProcesses | undefined {
  if (status?.lossReads === undefined) return carriesLossTotals(status) ? undefined : new Map();
  return new Map(
    status.lossReads.map((read) => [
      read.podUID,
      {
        processStartSeconds: read.processStartSeconds,
        losses: {
          sourceRecordsLost: read.sourceRecordsLost ?? 0,
          replays: read.storeReplays?.replays ?? 0,
          replayedOffsets: read.storeReplays?.replayedOffsets ?? 0,
          replayLost: read.storeReplays?.lost ?? 0,
        },
      },
    ]),
  );
}

/**
 * The reads to write beside `totals`: the processes of `seen` that reported a loss, by pod UID (a
 * stable order, so an unchanged status is not written again). Undefined while there is no total
 * (nothing to count from: the status stays short), or past maxLossReads (then a restarted operator
 * counts only the workers' sum above the totals: it may miss a loss, never counts one twice).
 */
export function statusReads(seen: SeenProcesses, totals: Losses): PipelineLossRead[] | undefined {
  if (!counted(totals)) return undefined;
  const reads = [...seen]
    .filter(([, process]) => Object.values(process.losses).some((value) => value > 0))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([podUID, { processStartSeconds, losses }]) => ({
      podUID,
      ...(processStartSeconds !== undefined ? { processStartSeconds } : {}),
      ...(losses.sourceRecordsLost > 0 ? { sourceRecordsLost: losses.sourceRecordsLost } : {}),
      ...(losses.replays > 0 || losses.replayedOffsets > 0 || losses.replayLost > 0
        ? {
            storeReplays: {
              replays: losses.replays,
              replayedOffsets: losses.replayedOffsets,
              lost: losses.replayLost,
            },
          }
        : {}),
    }));
  return reads.length <= maxLossReads ? reads : undefined;
}
