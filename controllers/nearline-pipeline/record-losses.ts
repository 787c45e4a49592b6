// Records a pipeline's workers could not write: source records Kafka retention deleted before they
// were read, and replays after the store lost acknowledged writes (pipelines/nearline, README
// "Delivery guarantees"). The workers count them since they started (/readyz); the pipeline's status
// carries the sums per version, and a Warning Event says each new loss once: the status written at
// the last poll is what "new" is measured against, so a poll that reads the same totals says nothing,
// nor one that reads lower totals (a worker restarted or was scaled away).
import type { PipelineVersionStatus } from "../../crds/index.ts";

/** The Event reasons recorded here. */
export const lossEventReasons = ["SourceRecordsLost", "StoreReplayed"] as const;

/** A Warning Event to record. */
export interface LossEvent {
  reason: (typeof lossEventReasons)[number];
  message: string;
}

/** The Warnings for losses in `current` beyond those `previous` (the status before) already carried. */
export function lossEvents(
  previous: readonly PipelineVersionStatus[] | undefined,
  current: readonly PipelineVersionStatus[],
): LossEvent[] {
  return current.flatMap((version) => {
    const before = previous?.find((entry) => entry.version === version.version);
    const events: LossEvent[] = [];
    const lost = version.sourceRecordsLost ?? 0;
    const lostBefore = before?.sourceRecordsLost ?? 0;
    // Only a rise is a new loss. A sum lower than before means a worker restarted (counting again from
    // 0) or was scaled away: the other workers' totals in it were told already, so a lower sum says
    // nothing, and the status carries it as the base the next loss is measured from. (A worker that
    // restarts and loses again within one poll is told only as far as the sum rises.)
    if (lost > lostBefore) {
      const more = lost - lostBefore;
      events.push({
        reason: "SourceRecordsLost",
        message: `version ${version.version}: ${more} source record${more === 1 ? " was" : "s were"} deleted by retention before its workers read them (${lost} since they started); their changes are not in the store`,
      });
    }
    const replays = version.storeReplays;
    if (replays !== undefined && replays.replays > (before?.storeReplays?.replays ?? 0))
      events.push({
        reason: "StoreReplayed",
        message: `version ${version.version}: the store lost acknowledged writes; its workers replayed from the store's recorded offsets (${replays.replays} replay${replays.replays === 1 ? "" : "s"}, ${replays.replayedOffsets} offsets read again, ${replays.lost} records retention had deleted, since they started)`,
      });
    return events;
  });
}

/**
 * `current` with the loss totals of `previous` kept where they are higher and not every worker
 * could be read (`allRead` false): a worker that did not answer one poll would otherwise take its
 * losses out of the status, and the next poll would warn of them again.
 */
export function keepLossesOfUnreadWorkers(
  current: PipelineVersionStatus,
  previous: readonly PipelineVersionStatus[] | undefined,
  allRead: boolean,
): PipelineVersionStatus {
  const before = previous?.find((entry) => entry.version === current.version);
  if (allRead || before === undefined) return current;
  const kept = { ...current };
  if ((before.sourceRecordsLost ?? 0) > (current.sourceRecordsLost ?? 0))
    kept.sourceRecordsLost = before.sourceRecordsLost!;
  if ((before.storeReplays?.replays ?? 0) > (current.storeReplays?.replays ?? 0))
    kept.storeReplays = before.storeReplays!;
  return kept;
}
