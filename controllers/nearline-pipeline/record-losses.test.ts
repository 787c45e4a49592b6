import { describe, expect, it } from "vitest";
import type { PipelineVersionStatus } from "../../crds/index.ts";
import { countLosses, LossLedger, lossEvents, withLosses, type SeenProcesses } from "./record-losses.ts";
import type { WorkerFigures } from "./worker-figures.ts";

const quiet: PipelineVersionStatus = { version: "minilm-v1", readyReplicas: 2, processed: 100 };

/** A worker pod's figures: its process's start and what it lost since. */
function worker(
  pod: string,
  processStartSeconds: number,
  sourceRecordsLost: number,
  replays?: { replays: number; replayedOffsets: number; lost: number },
): WorkerFigures {
  return {
    podUid: pod,
    processStartSeconds,
    counts: {
      consumed: 10,
      embedded: 10,
      skippedUnchanged: 0,
      deleted: 0,
      deadLettered: 0,
      sourceRecordsLost,
      ...(replays !== undefined ? { storeReplays: replays } : {}),
    },
  };
}

/** The status one poll writes after `before`, remembering `seen`, and the Warnings it records. */
function poll(before: PipelineVersionStatus, seen: SeenProcesses | undefined, workers: WorkerFigures[]) {
  const counted = countLosses(before, seen, workers);
  return {
    status: withLosses(quiet, counted),
    seen: counted.seen,
    events: lossEvents("minilm-v1", counted),
  };
}

describe("countLosses", () => {
  it("says nothing and leaves the status short while no worker lost records or replayed", () => {
    const { status, events } = poll(quiet, undefined, [worker("a", 100, 0)]);
    expect(status).toEqual(quiet);
    expect(events).toEqual([]);
  });

  it("warns once per new loss: not again for the same totals at the next poll", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5)]);
    expect(first.status.sourceRecordsLost).toBe(5);
    expect(first.events).toEqual([
      {
        reason: "SourceRecordsLost",
        message:
          "version minilm-v1: 5 source records were deleted by retention before its workers read them (5 in all); their changes are not in the store",
      },
    ]);
    expect(poll(first.status, first.seen, [worker("a", 100, 5)]).events).toEqual([]);
  });

  it("warns of a store replay, and adds the records it could not read again", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5)]);
    const replays = { replays: 1, replayedOffsets: 40, lost: 3 };
    const second = poll(first.status, first.seen, [worker("a", 100, 8, replays)]);
    expect(second.status).toMatchObject({ sourceRecordsLost: 8, storeReplays: replays });
    expect(second.events.map((event) => event.message)).toEqual([
      "version minilm-v1: 3 source records were deleted by retention before its workers read them (8 in all); their changes are not in the store",
      "version minilm-v1: the store lost acknowledged writes; its workers replayed from the store's recorded offsets (1 replay, 40 offsets read again, 3 records retention had deleted; 1 replay in all)",
    ]);
    expect(poll(second.status, second.seen, [worker("a", 100, 8, replays)]).events).toEqual([]);
  });

  it("counts all a restarted worker process reports, whether more or fewer than before", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5), worker("b", 100, 2)]);
    // Both restarted within one poll: a lost 3 since, b lost 4. The workers' sum is 7 as before.
    const second = poll(first.status, first.seen, [worker("a", 200, 3), worker("b", 200, 4)]);
    expect(second.status.sourceRecordsLost).toBe(14);
    expect(second.events[0]?.message).toContain(": 7 source records were deleted");
    // Without a process start (its /metrics not read), a lower counter still says it restarted.
    const third = poll(second.status, second.seen, [
      worker("a", 200, 3),
      { ...worker("b", 0, 1), processStartSeconds: undefined },
    ]);
    expect(third.status.sourceRecordsLost).toBe(15);
  });

  it("keeps the totals when a worker is scaled away or not read, and counts all of a new pod's", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5), worker("b", 100, 2)]);
    // b not answering keeps its last read: when it answers again, only what it adds is new.
    const unread = poll(first.status, first.seen, [worker("a", 100, 5), { podUid: "b" }]);
    expect(unread).toMatchObject({ status: { sourceRecordsLost: 7 }, events: [] });
    expect(
      poll(unread.status, unread.seen, [worker("a", 100, 5), worker("b", 100, 3)]).status.sourceRecordsLost,
    ).toBe(8);
    // b gone: forgotten, its records still lost. c new: all it lost is new.
    const scaled = poll(first.status, first.seen, [worker("a", 100, 5)]);
    expect(scaled).toMatchObject({ status: { sourceRecordsLost: 7 }, events: [] });
    expect([...scaled.seen!.keys()]).toEqual(["a"]);
    expect(
      poll(scaled.status, scaled.seen, [worker("a", 100, 5), worker("c", 300, 1)]).status.sourceRecordsLost,
    ).toBe(8);
  });

  it("waits for a worker's process start when it was read before: a restart then unread is counted in full", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5)]);
    // a restarted and lost 7 since, but its /metrics (the process start) did not answer this time.
    const unsure = poll(first.status, first.seen, [{ ...worker("a", 0, 7), processStartSeconds: undefined }]);
    expect(unsure).toMatchObject({ status: { sourceRecordsLost: 5 }, events: [] });
    expect(poll(unsure.status, unsure.seen, [worker("a", 200, 7)]).status.sourceRecordsLost).toBe(12);
  });

  it("does not count again a pod that was not running for a while and runs the same process again", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5)]);
    const away = poll(first.status, first.seen, [{ podUid: "a", notRunning: true }]);
    expect(away).toMatchObject({ status: { sourceRecordsLost: 5 }, events: [] });
    expect(poll(away.status, away.seen, [worker("a", 100, 5)])).toMatchObject({
      status: { sourceRecordsLost: 5 },
      events: [],
    });
  });

  it("after an operator restart (nothing remembered) tells only what the workers' sum adds to the status", () => {
    const before = { ...quiet, sourceRecordsLost: 14 };
    const restarted = poll(before, undefined, [worker("a", 200, 3), worker("b", 200, 4)]);
    expect(restarted).toMatchObject({ status: { sourceRecordsLost: 14 }, events: [] });
    // Remembered from then on: the next loss is counted per worker process again.
    expect(
      poll(restarted.status, restarted.seen, [worker("a", 200, 5), worker("b", 200, 4)]).status
        .sourceRecordsLost,
    ).toBe(16);
    // A new version (no status yet): everything its workers report is new.
    expect(poll(quiet, undefined, [worker("a", 100, 3)]).events).toHaveLength(1);
  });

  it("remembers nothing after an operator restart until every running worker was read", () => {
    // b may hold losses the status counts: remembered as new now, they would be told again.
    const before = { ...quiet, sourceRecordsLost: 7 };
    const partial = poll(before, undefined, [worker("a", 100, 5), { podUid: "b" }]);
    expect(partial).toMatchObject({ status: { sourceRecordsLost: 7 }, seen: undefined, events: [] });
    const all = poll(partial.status, partial.seen, [
      worker("a", 100, 5),
      worker("b", 100, 2),
      { podUid: "c", notRunning: true },
    ]);
    expect(all).toMatchObject({ status: { sourceRecordsLost: 7 }, events: [] });
    expect([...all.seen!.keys()]).toEqual(["a", "b"]);
  });
});

describe("LossLedger", () => {
  it("forgets a pipeline's versions no longer live, and all of a pipeline deleted", () => {
    const ledger = new LossLedger();
    const counted = countLosses(quiet, new Map(), [worker("a", 100, 1)]);
    ledger.remember("ns/jobs", "uid-1", "minilm-v1", counted);
    ledger.remember("ns/jobs", "uid-1", "minilm-v2", counted);
    ledger.remember("ns/members", "uid-2", "minilm-v1", counted);
    ledger.forget("ns/jobs", ["minilm-v2"]);
    expect(ledger.recall("ns/jobs", "uid-1", "minilm-v1")).toBeUndefined();
    expect(ledger.recall("ns/jobs", "uid-1", "minilm-v2")).toEqual({
      seen: counted.seen,
      totals: counted.totals,
      uid: "uid-1",
    });
    ledger.forget("ns/jobs");
    expect(ledger.recall("ns/jobs", "uid-1", "minilm-v2")).toBeUndefined();
    expect(ledger.recall("ns/members", "uid-2", "minilm-v1")?.seen).toBe(counted.seen);
    // Another pipeline under the same name: nothing of the one before.
    expect(ledger.recall("ns/members", "uid-3", "minilm-v1")).toBeUndefined();
    // A count that could not keep the reads (a running worker unread after a start from a status
    // without them) keeps the totals it wrote: the next count adds to them, not to a stale status.
    ledger.remember("ns/members", "uid-2", "minilm-v1", { ...counted, seen: undefined });
    expect(ledger.recall("ns/members", "uid-2", "minilm-v1")).toEqual({
      seen: undefined,
      totals: counted.totals,
      uid: "uid-2",
    });
  });
});
