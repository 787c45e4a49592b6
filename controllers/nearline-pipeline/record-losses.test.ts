import { describe, expect, it } from "vitest";
import type { PipelineVersionStatus } from "../../crds/index.ts";
import { keepLossesOfUnreadWorkers, lossEvents } from "./record-losses.ts";

const quiet: PipelineVersionStatus = { version: "minilm-v1", readyReplicas: 2, processed: 100 };
const lost: PipelineVersionStatus = { ...quiet, sourceRecordsLost: 5 };
const replayed: PipelineVersionStatus = {
  ...lost,
  sourceRecordsLost: 8,
  storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 },
};

describe("lossEvents", () => {
  it("says nothing while no worker lost records or replayed", () => {
    expect(lossEvents(undefined, [quiet])).toEqual([]);
  });

  it("warns once per new loss: not again for the same totals at the next poll", () => {
    expect(lossEvents([quiet], [lost])).toEqual([
      {
        reason: "SourceRecordsLost",
        message:
          "version minilm-v1: 5 source records were deleted by retention before its workers read them (5 since they started); their changes are not in the store",
      },
    ]);
    expect(lossEvents([lost], [lost])).toEqual([]);
  });

  it("warns of a store replay, and of the records it could not read again", () => {
    expect(lossEvents([lost], [replayed])).toEqual([
      {
        reason: "SourceRecordsLost",
        message:
          "version minilm-v1: 3 source records were deleted by retention before its workers read them (8 since they started); their changes are not in the store",
      },
      {
        reason: "StoreReplayed",
        message:
          "version minilm-v1: the store lost acknowledged writes; its workers replayed from the store's recorded offsets (1 replay, 40 offsets read again, 3 records retention had deleted, since they started)",
      },
    ]);
    expect(lossEvents([replayed], [replayed])).toEqual([]);
  });

  it("warns of a loss after the workers restarted (their totals began again), as far as the sum rises", () => {
    expect(lossEvents([replayed], [{ ...quiet, sourceRecordsLost: 9 }])).toHaveLength(1);
  });

  it("says nothing when a worker restarts or is scaled away (its totals leave the sums)", () => {
    // Two workers lost 6 and 4 and replayed once each; one restarts (or the Deployment scales to one):
    // the sums fall to the other's 4 and 1 replay, already told. Warning of them again would be false.
    const before: PipelineVersionStatus = {
      ...quiet,
      sourceRecordsLost: 10,
      storeReplays: { replays: 2, replayedOffsets: 80, lost: 6 },
    };
    const after: PipelineVersionStatus = {
      ...quiet,
      sourceRecordsLost: 4,
      storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 },
    };
    expect(lossEvents([before], [after])).toEqual([]);
    // A rolling restart takes the workers out one by one: no Event at any step, none when all are new.
    expect(lossEvents([after], [quiet])).toEqual([]);
    // A loss after that is measured from the lower sum the status now carries.
    expect(lossEvents([after], [{ ...after, sourceRecordsLost: 7 }])).toEqual([
      {
        reason: "SourceRecordsLost",
        message:
          "version minilm-v1: 3 source records were deleted by retention before its workers read them (7 since they started); their changes are not in the store",
      },
    ]);
  });
});

describe("keepLossesOfUnreadWorkers", () => {
  it("keeps the last totals while a worker could not be read, so the next poll does not warn again", () => {
    const partial = keepLossesOfUnreadWorkers(quiet, [replayed], false);
    expect(partial).toMatchObject({ sourceRecordsLost: 8, storeReplays: replayed.storeReplays });
    expect(lossEvents([partial], [replayed])).toEqual([]);
  });

  it("takes the workers' totals as read when every worker answered (after a restart: lower)", () => {
    expect(keepLossesOfUnreadWorkers(quiet, [replayed], true)).toEqual(quiet);
  });
});
