import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import type { KubeClient } from "./kube-client.ts";
import { LeaderElector } from "./leader-elector.ts";
import type { KubeObject } from "./types.ts";

/** A KubeClient holding one Lease in memory (get, create, update with resourceVersion checks). */
function leaseClient(): KubeClient {
  let lease: KubeObject | undefined;
  let version = 0;
  const store = (object: KubeObject): KubeObject => {
    lease = { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } };
    return lease;
  };
  return {
    get: async () => lease,
    create: async (_path: string, object: KubeObject) => store(object),
    update: async (_path: string, object: KubeObject) => store(object),
  } as unknown as KubeClient;
}

const options = {
  namespace: "jude-system",
  name: "jude-operator",
  identity: "replica-a",
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe("LeaderElector.holds", () => {
  it("is false before the Lease is acquired and true right after", async () => {
    const elector = new LeaderElector(leaseClient(), options, silentLogger());
    expect(elector.holds()).toBe(false);
    await elector.acquire(AbortSignal.timeout(5_000));
    expect(elector.holds()).toBe(true);
  });

  it("turns false once the renew deadline has passed, without waiting for the renewal timer", async () => {
    const elector = new LeaderElector(leaseClient(), options, silentLogger());
    const now = performance.now();
    const clock = vi.spyOn(performance, "now").mockReturnValue(now);
    await elector.acquire(AbortSignal.timeout(5_000));
    // The process was stopped (SIGSTOP) for 20 s: a standby may have taken the Lease 15 s after it
    // last saw it renewed. The monotonic clock ran on; no timer of this process has run yet.
    clock.mockReturnValue(now + options.renewDeadlineMs - 1);
    expect(elector.holds()).toBe(true);
    clock.mockReturnValue(now + 20_000);
    expect(elector.holds()).toBe(false);
  });
});

describe("LeaderElector and the wall clock", () => {
  // NTP stepping the clock, a VM restored from a snapshot, an operator adjusting the time: the wall
  // clock jumps while the monotonic clock does not. Lease timing is judged on the monotonic clock
  // (client-go does the same), so a step neither takes a Lease early nor gives one up.
  const fast = { ...options, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 10 };

  it("keeps renewing when the wall clock steps forward past the renew deadline", async () => {
    // Each request takes a few milliseconds to answer and is cut short by its signal, as a real one.
    const inner = leaseClient();
    const answer = <T>(signal: AbortSignal | undefined, value: () => Promise<T>): Promise<T> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 5);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        });
      }).then(value);
    const client = {
      get: (path: string, signal?: AbortSignal) => answer(signal, () => inner.get(path)),
      create: (path: string, object: KubeObject, manager: string, signal?: AbortSignal) =>
        answer(signal, () => inner.create(path, object, manager)),
      update: (path: string, object: KubeObject, manager: string, signal?: AbortSignal) =>
        answer(signal, () => inner.update(path, object, manager)),
    } as unknown as KubeClient;
    const elector = new LeaderElector(client, fast, silentLogger());
    await elector.acquire(AbortSignal.timeout(5_000));
    const stop = new AbortController();
    const kept = elector.keep(stop.signal);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 60_000);
    // Every renewal succeeds (the API server answers at once); let several of them run.
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop.abort();
    await expect(kept).resolves.toBeUndefined();
    expect(elector.holds()).toBe(true);
  });

  it("does not take a Lease another replica holds when the wall clock steps forward", async () => {
    const client = leaseClient();
    const holder = new LeaderElector(client, { ...fast, identity: "replica-b" }, silentLogger());
    await holder.acquire(AbortSignal.timeout(5_000));
    const standby = new LeaderElector(client, fast, silentLogger());
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + stepMs);
    const acquiring = standby.acquire(AbortSignal.timeout(300));
    acquiring.catch(() => undefined);
    // The standby has seen the Lease; then the wall clock steps a minute forward. Far less than the
    // Lease's 15 s has really passed since the holder renewed it: the standby must wait.
    await new Promise((resolve) => setTimeout(resolve, 50));
    stepMs = 60_000;
    await expect(acquiring).rejects.toThrow();
    expect(standby.holds()).toBe(false);
  });
});
