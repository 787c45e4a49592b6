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
