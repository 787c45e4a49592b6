import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RetryRateLimiter } from "./rate-limiter.ts";
import { WorkQueue } from "./work-queue.ts";

/** Takes every key that is available now, without waiting. */
async function drainNow(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) keys.push((await queue.get()) as string);
  return keys;
}

describe("work queue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("retries a failed key after its back-off when the wall clock steps back an hour", async () => {
    // NTP correcting a clock that ran an hour ahead: the retry delays are durations, not dates.
    vi.setSystemTime(new Date("2026-01-01T12:00:00Z"));
    const queue = new WorkQueue({ rateLimiter: new RetryRateLimiter({ qps: 10, burst: 1 }) });
    queue.addRateLimited("ns/a");
    vi.setSystemTime(new Date("2026-01-01T11:00:00Z"));
    queue.addRateLimited("ns/b");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await drainNow(queue)).toEqual(["ns/a", "ns/b"]);
  });

  it("holds a key queued further ahead than a timer can wait (2^31 - 1 ms) instead of handing it out at once", async () => {
    // A Node timer given more than 2^31 - 1 ms fires after 1 ms: a far requeue became a hot loop.
    vi.useRealTimers();
    const queue = new WorkQueue();
    queue.addAfter("ns/far", 40 * 24 * 3600 * 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(queue.length).toBe(0);
    queue.shutDown();
  });

  it("merges repeated adds of a waiting key into one entry, in first-add order", async () => {
    const queue = new WorkQueue();
    for (const key of ["ns/a", "ns/b", "ns/a", "ns/a", "ns/c", "ns/b"]) queue.add(key);
    expect(await drainNow(queue)).toEqual(["ns/a", "ns/b", "ns/c"]);
  });

  it("never hands out a key that is in progress; a re-add runs once after done()", async () => {
    const queue = new WorkQueue();
    queue.add("ns/a");
    const first = await queue.get();
    expect(first).toBe("ns/a");
    queue.add("ns/a");
    queue.add("ns/a");
    queue.add("ns/b");
    // Only ns/b is available while ns/a is in progress.
    expect(await drainNow(queue)).toEqual(["ns/b"]);
    queue.done("ns/b");
    queue.done("ns/a");
    expect(await drainNow(queue)).toEqual(["ns/a"]);
    queue.done("ns/a");
    expect(queue.length).toBe(0);
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.add("ns/a");
    expect(await waiting).toBe("ns/a");
    expect(queue.inProgress).toBe(1);
  });

  it("backs off a failing key exponentially and resets after success", async () => {
    const queue = new WorkQueue({ now: () => Date.now() });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      queue.addRateLimited("ns/a");
      const started = Date.now();
      await vi.advanceTimersByTimeAsync(0);
      while (queue.length === 0) await vi.advanceTimersByTimeAsync(1);
      delays.push(Date.now() - started);
      queue.done((await queue.get()) as string);
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    queue.forget("ns/a");
    expect(queue.failures("ns/a")).toBe(0);
  });

  it("keeps the earliest of two delayed adds", async () => {
    const queue = new WorkQueue();
    queue.addAfter("ns/a", 1000);
    queue.addAfter("ns/a", 100);
    queue.addAfter("ns/a", 5000);
    await vi.advanceTimersByTimeAsync(100);
    expect(await drainNow(queue)).toEqual(["ns/a"]);
    queue.done("ns/a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queue.length).toBe(0);
  });

  it("rate-limits retries of many keys overall", async () => {
    const queue = new WorkQueue({ rateLimiter: new RetryRateLimiter({ qps: 10, burst: 2 }) });
    for (const key of ["ns/a", "ns/b", "ns/c", "ns/d"]) queue.addRateLimited(key);
    await vi.advanceTimersByTimeAsync(5);
    expect(await drainNow(queue)).toEqual(["ns/a", "ns/b"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(await drainNow(queue)).toEqual(["ns/c"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(await drainNow(queue)).toEqual(["ns/d"]);
  });

  it("reports depth and waiting time to its observer", async () => {
    const depths: number[] = [];
    const waits: number[] = [];
    const queue = new WorkQueue({
      observer: { depth: (n) => depths.push(n), waited: (ms) => waits.push(ms) },
    });
    queue.add("ns/a");
    queue.add("ns/b");
    await vi.advanceTimersByTimeAsync(30);
    await queue.get();
    expect(depths).toEqual([1, 2, 1]);
    expect(waits).toEqual([30]);
  });

  it("after shutDown hands out nothing more and reports idle when workers finish", async () => {
    const queue = new WorkQueue();
    queue.add("ns/a");
    const key = (await queue.get()) as string;
    const waiting = queue.get();
    queue.addAfter("ns/b", 10);
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    queue.add("ns/c");
    expect(await queue.get()).toBeUndefined();
    let idle = false;
    const idlePromise = queue.idle().then(() => (idle = true));
    await vi.advanceTimersByTimeAsync(20);
    expect(idle).toBe(false);
    queue.done(key);
    await idlePromise;
    expect(idle).toBe(true);
  });
});
