import { describe, expect, it } from "vitest";
import { maxLossReads, type PipelineVersionStatus } from "../../crds/index.ts";
import { countLosses, lossEvents, withLosses, type SeenProcesses } from "./record-losses.ts";
import type { WorkerFigures } from "./worker-figures.ts";

const quiet: PipelineVersionStatus = { version: "minilm-v1", readyReplicas: 2, processed: 100 };

/** A worker pod's figures: its process's start and the records it lost since. */
function worker(pod: string, processStartSeconds: number, sourceRecordsLost: number): WorkerFigures {
  const counts = { consumed: 10, embedded: 10, skippedUnchanged: 0, deleted: 0, deadLettered: 0 };
  return { podUid: pod, processStartSeconds, counts: { ...counts, sourceRecordsLost } };
}

/**
 * The status one poll writes after `before` and the Warnings it records; `seen` undefined is an
 * operator that just started (nothing remembered: it has the status alone).
 */
function poll(before: PipelineVersionStatus, seen: SeenProcesses | undefined, workers: WorkerFigures[]) {
  const counted = countLosses(before, seen, workers);
  return { status: withLosses(quiet, counted), seen: counted.seen, events: lossEvents("minilm-v1", counted) };
}

describe("the last reads in the status (an operator restart)", () => {
  it("counts what each worker process lost while the operator was down, told once", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5), worker("b", 100, 2)]);
    // a restarted and lost 3 (fewer than before: the workers' sum fell), b lost 1 more.
    const restarted = poll(first.status, undefined, [worker("a", 200, 3), worker("b", 100, 3)]);
    expect(restarted.status.sourceRecordsLost).toBe(11);
    expect(restarted.events.map((event) => event.message)).toEqual([
      "version minilm-v1: 4 source records were deleted by retention before its workers read them (11 in all); their changes are not in the store",
    ]);
    // Restarted once more with nothing new: nothing is told again.
    const again = poll(restarted.status, undefined, [worker("a", 200, 3), worker("b", 100, 3)]);
    expect(again).toMatchObject({ status: { sourceRecordsLost: 11 }, events: [] });
  });

  it("writes the reads of processes that lost something, by pod UID, and none while nothing was lost", () => {
    expect(poll(quiet, new Map(), [worker("a", 100, 0)]).status).toEqual(quiet);
    const written = poll(quiet, new Map(), [worker("c", 100, 1), worker("b", 100, 0), worker("a", 90, 2)]);
    expect(written.status.lossReads).toEqual([
      { podUID: "a", processStartSeconds: 90, sourceRecordsLost: 2 },
      { podUID: "c", processStartSeconds: 100, sourceRecordsLost: 1 },
    ]);
    // b, not written, reported nothing: all it reports after a restart is new.
    expect(poll(written.status, undefined, [worker("b", 100, 4)]).status.sourceRecordsLost).toBe(7);
  });

  it("keeps the totals of a worker gone while the operator was down, and a silent one holds nothing back", () => {
    const first = poll(quiet, new Map(), [worker("a", 100, 5), worker("b", 100, 2)]);
    // b was scaled away meanwhile: what it lost after its last read cannot be read any more.
    const gone = poll(first.status, undefined, [worker("a", 100, 5)]);
    expect(gone).toMatchObject({ status: { sourceRecordsLost: 7 }, events: [] });
    expect(gone.status.lossReads?.map((read) => read.podUID)).toEqual(["a"]);
    // b runs but does not answer: a's new loss is counted now, b keeps its last read for later.
    const silent = poll(first.status, undefined, [worker("a", 200, 1), { podUid: "b" }]);
    expect(silent).toMatchObject({ status: { sourceRecordsLost: 8 }, events: [expect.anything()] });
    expect(poll(silent.status, silent.seen, [worker("a", 200, 1), worker("b", 100, 4)]).status).toMatchObject(
      {
        sourceRecordsLost: 10,
      },
    );
  });

  it("moves a status of a release before the reads onto them once every running worker was read", () => {
    const before = { ...quiet, sourceRecordsLost: 14 };
    const upgraded = poll(before, undefined, [worker("a", 200, 3), worker("b", 200, 4)]);
    expect(upgraded).toMatchObject({ status: { sourceRecordsLost: 14 }, events: [] });
    expect(upgraded.status.lossReads).toHaveLength(2);
    // From then on a restart counts per process: a restarted and lost 1 (the workers' sum fell).
    const restarted = poll(upgraded.status, undefined, [worker("a", 300, 1), worker("b", 200, 4)]);
    expect(restarted).toMatchObject({ status: { sourceRecordsLost: 15 }, events: [expect.anything()] });
  });

  it(`leaves the reads out past ${maxLossReads} processes: a restart then counts the sum above the totals`, () => {
    const many = Array.from({ length: maxLossReads + 1 }, (_, index) => worker(`pod-${index}`, 100, 1));
    const written = poll(quiet, new Map(), many);
    expect(written.status).toMatchObject({ sourceRecordsLost: maxLossReads + 1 });
    expect(written.status.lossReads).toBeUndefined();
    expect(poll(written.status, undefined, many)).toMatchObject({
      status: { sourceRecordsLost: maxLossReads + 1 },
      events: [],
    });
    // At the bound they are written.
    expect(poll(quiet, new Map(), many.slice(1)).status.lossReads).toHaveLength(maxLossReads);
  });
});
