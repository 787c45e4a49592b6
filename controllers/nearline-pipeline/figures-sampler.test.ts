import { describe, expect, it } from "vitest";
import { FiguresSampler } from "./figures-sampler.ts";
import type { WorkerFigures } from "./worker-figures.ts";

/** A read that answers a new figure each time, as a busy worker does. */
function busyWorker() {
  let reads = 0;
  return {
    reads: () => reads,
    read: async (): Promise<WorkerFigures[]> => {
      reads += 1;
      return [{ lag: new Map([[0, reads]]) }];
    },
  };
}

describe("figures sampler", () => {
  it("reuses a sample within the poll period and reads again at the poll", async () => {
    let nowMs = 0;
    const sampler = new FiguresSampler(30_000, () => nowMs);
    const worker = busyWorker();
    const first = await sampler.figures("ns/jobs", "v1", "pod-a", worker.read);
    nowMs = 5_000; // a reconcile woken by the status write
    expect(await sampler.figures("ns/jobs", "v1", "pod-a", worker.read)).toBe(first);
    nowMs = 30_000; // the poll, requeued 30 s after a reconcile that began after the sample
    expect(await sampler.figures("ns/jobs", "v1", "pod-a", worker.read)).not.toBe(first);
    expect(worker.reads()).toBe(2);
  });

  it("reuses a sample without a worker's lag for 1 s only, so the 2 s re-read while it is owed reads", async () => {
    let nowMs = 0;
    const sampler = new FiguresSampler(30_000, () => nowMs);
    let reads = 0;
    const starting = async (): Promise<WorkerFigures[]> => {
      reads += 1;
      return [{ lag: new Map([[0, 0]]) }, {}];
    };
    const first = await sampler.figures("ns/jobs", "v1", "pod-a,pod-b", starting);
    nowMs = 500; // a reconcile woken by the status write
    expect(await sampler.figures("ns/jobs", "v1", "pod-a,pod-b", starting)).toBe(first);
    nowMs = 2_000; // the re-read 2 s after a reconcile that began after the sample
    expect(await sampler.figures("ns/jobs", "v1", "pod-a,pod-b", starting)).not.toBe(first);
    expect(reads).toBe(2);
  });

  it("reads at once when the pods changed, per version and pipeline", async () => {
    const sampler = new FiguresSampler(30_000, () => 0);
    const worker = busyWorker();
    await sampler.figures("ns/jobs", "v1", "pod-a", worker.read);
    await sampler.figures("ns/jobs", "v1", "pod-a,pod-b", worker.read);
    await sampler.figures("ns/jobs", "v2", "pod-a,pod-b", worker.read);
    await sampler.figures("ns/other", "v1", "pod-a,pod-b", worker.read);
    expect(worker.reads()).toBe(4);
  });

  it("forgets a deleted pipeline and versions no longer live", async () => {
    const sampler = new FiguresSampler(30_000, () => 0);
    const worker = busyWorker();
    for (const version of ["v1", "v2"]) await sampler.figures("ns/jobs", version, "p", worker.read);
    sampler.forget("ns/jobs", ["v2"]);
    await sampler.figures("ns/jobs", "v2", "p", worker.read);
    expect(worker.reads()).toBe(2);
    await sampler.figures("ns/jobs", "v1", "p", worker.read);
    expect(worker.reads()).toBe(3);
    sampler.forget("ns/jobs");
    await sampler.figures("ns/jobs", "v2", "p", worker.read);
    expect(worker.reads()).toBe(4);
  });
});
