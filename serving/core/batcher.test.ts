import { describe, expect, it } from "vitest";
import { ControlledBackend } from "../../test/support/serving/controlled-backend.ts";
import { Batcher, type BatcherObserver } from "./batcher.ts";
import { ServingError } from "./errors.ts";

const tokens = (count: number) => new Int32Array(count).fill(7);

function setup(maxBatchSize = 8, parallelism = 1, observer: BatcherObserver = {}) {
  const backend = new ControlledBackend(4, parallelism);
  const batcher = new Batcher({
    backend,
    limits: { maxBatchTokens: 10_000, maxBatchSize },
    maxQueueDelayMs: 0,
    observer,
  });
  return { backend, batcher };
}

describe("Batcher", () => {
  it("runs one batch at a time and batches what arrived meanwhile", async () => {
    const { backend, batcher } = setup();
    const first = batcher.submit(tokens(3));
    await backend.waitForBatches(1);
    const waiting = [batcher.submit(tokens(4)), batcher.submit(tokens(5)), batcher.submit(tokens(6))];
    expect(backend.running).toBe(1);
    expect(batcher.queueSize).toBe(3);
    backend.complete();
    await backend.waitForBatches(2);
    expect(backend.batches[1]?.map((input) => input.length).sort()).toEqual([4, 5, 6]);
    backend.complete();
    const results = await Promise.all([first, ...waiting]);
    expect(results.map((result) => result.vector[0])).toEqual([3, 4, 5, 6]);
    expect(results.map((result) => result.batchSize)).toEqual([1, 3, 3, 3]);
  });

  it("drops inputs whose call was cancelled before their batch started", async () => {
    const { backend, batcher } = setup();
    const first = batcher.submit(tokens(3));
    await backend.waitForBatches(1);
    const controller = new AbortController();
    const cancelled = batcher.submit(tokens(9), controller.signal);
    const kept = batcher.submit(tokens(4));
    controller.abort();
    backend.complete();
    await expect(cancelled).rejects.toMatchObject({ code: "CANCELLED" });
    await backend.waitForBatches(2);
    expect(backend.batches[1]?.map((input) => input.length)).toEqual([4]);
    backend.complete();
    await Promise.all([first, kept]);
  });

  it("rejects a cancelled input at once, without waiting for the running batch", async () => {
    const dropped: number[] = [];
    const { backend, batcher } = setup(8, 1, { dropped: (count) => dropped.push(count) });
    const first = batcher.submit(tokens(3));
    await backend.waitForBatches(1);
    const controller = new AbortController();
    const cancelled = [
      batcher.submit(tokens(9), controller.signal),
      batcher.submit(tokens(8), controller.signal),
    ];
    const kept = batcher.submit(tokens(4));
    controller.abort();
    for (const input of cancelled) await expect(input).rejects.toMatchObject({ code: "CANCELLED" });
    expect(backend.running).toBe(1);
    expect(batcher.queueSize).toBe(1);
    expect(batcher.queueTokens).toBe(4);
    expect(dropped).toEqual([2]);
    backend.complete();
    await backend.waitForBatches(2);
    expect(backend.batches[1]?.map((input) => input.length)).toEqual([4]);
    backend.complete();
    await Promise.all([first, kept]);
  });

  it("rejects an input whose call was cancelled before it was submitted, without queueing it", async () => {
    // A client that hung up or a deadline that passed while the request was read and tokenized: the
    // input must not wait in the queue (holding its room and its call's permits) for the running batch.
    const dropped: number[] = [];
    const { backend, batcher } = setup(8, 1, { dropped: (count) => dropped.push(count) });
    const first = batcher.submit(tokens(3));
    await backend.waitForBatches(1);
    const late = batcher.submit(tokens(9), AbortSignal.abort());
    const settled = await Promise.race([
      late.then(
        () => "resolved",
        (error: unknown) => (error as ServingError).code,
      ),
      new Promise((resolve) => setTimeout(() => resolve("still queued"), 50)),
    ]);
    expect(settled).toBe("CANCELLED");
    expect(batcher.queueSize).toBe(0);
    expect(batcher.queueTokens).toBe(0);
    expect(dropped).toEqual([1]);
    backend.complete();
    await first;
  });

  it("fails every input of a failed batch with BACKEND_FAILED and keeps serving", async () => {
    const { backend, batcher } = setup();
    const first = batcher.submit(tokens(2));
    await backend.waitForBatches(1);
    const doomed = [batcher.submit(tokens(2)), batcher.submit(tokens(2))];
    backend.complete();
    await first;
    await backend.waitForBatches(2);
    backend.fail(new Error("out of memory"));
    for (const result of doomed) {
      await expect(result).rejects.toSatisfy(
        (error) =>
          error instanceof ServingError &&
          error.code === "BACKEND_FAILED" &&
          (error.cause as Error).message === "out of memory",
      );
    }
    const next = batcher.submit(tokens(2));
    await backend.waitForBatches(3);
    backend.complete();
    await expect(next).resolves.toMatchObject({ batchSize: 1 });
  });

  it("refuses the queued inputs NOT_READY, without running them, once the last worker died", async () => {
    // The last inference worker dies mid-batch: that batch fails BACKEND_FAILED, but the inputs queued
    // behind it never ran, so they are refused as the server refuses new calls then (UNAVAILABLE,
    // retryable), not failed INTERNAL on the dead backend.
    class DyingBackend extends ControlledBackend {
      failed = false;
      override embed(inputs: readonly Int32Array[]): Promise<Float32Array> {
        if (this.failed) return Promise.reject(new Error("inference worker exited with code 1"));
        return super.embed(inputs);
      }
    }
    const backend = new DyingBackend();
    const batcher = new Batcher({
      backend,
      limits: { maxBatchTokens: 10_000, maxBatchSize: 8 },
      maxQueueDelayMs: 0,
    });
    const running = batcher.submit(tokens(2));
    await backend.waitForBatches(1);
    const queued = [batcher.submit(tokens(3)), batcher.submit(tokens(4))];
    backend.failed = true;
    backend.fail(new Error("inference worker exited with code 1"));
    await expect(running).rejects.toMatchObject({ code: "BACKEND_FAILED" });
    for (const input of queued) await expect(input).rejects.toMatchObject({ code: "NOT_READY" });
    expect(backend.batches).toHaveLength(1);
    expect(batcher.queueSize).toBe(0);
    await batcher.idle();
  });

  it("idle() resolves once nothing is queued or running", async () => {
    const { backend, batcher } = setup(1);
    const results = [batcher.submit(tokens(2)), batcher.submit(tokens(2))];
    let idle = false;
    const idlePromise = batcher.idle().then(() => (idle = true));
    await backend.waitForBatches(1);
    backend.complete();
    await backend.waitForBatches(2);
    expect(idle).toBe(false);
    backend.complete();
    await Promise.all(results);
    await idlePromise;
    expect(idle).toBe(true);
  });

  it("with two workers, starts a second batch only when the queue fills one", async () => {
    const { backend, batcher } = setup(2, 2);
    const first = batcher.submit(tokens(1));
    await backend.waitForBatches(1);
    // A partial batch waits for the running one, as with one worker...
    const partial = batcher.submit(tokens(2));
    await Promise.resolve();
    expect(backend.running).toBe(1);
    // ...until the queue holds a full batch, which the free worker takes at once.
    const filling = batcher.submit(tokens(3));
    await backend.waitForBatches(2);
    expect(backend.running).toBe(2);
    expect(backend.batches[1]?.map((input) => input.length)).toEqual([2, 3]);
    // Never more batches than workers, however full the queue.
    const waiting = [batcher.submit(tokens(4)), batcher.submit(tokens(5))];
    expect(backend.running).toBe(2);
    expect(batcher.queueSize).toBe(2);
    backend.complete();
    await backend.waitForBatches(3);
    expect(backend.batches[2]?.map((input) => input.length)).toEqual([4, 5]);
    backend.complete();
    backend.complete();
    const results = await Promise.all([first, partial, filling, ...waiting]);
    expect(results.map((result) => result.vector[0])).toEqual([1, 2, 3, 4, 5]);
    await batcher.idle();
  });
});
