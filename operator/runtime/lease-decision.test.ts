import { describe, expect, it } from "vitest";
import { leaseAction, nextLeaseSpec, releasedLeaseSpec, type LeaseRecord } from "./lease-decision.ts";

const held: LeaseRecord = {
  holderIdentity: "other",
  leaseDurationSeconds: 15,
  renewTime: "2026-01-01T00:00:00.000000Z",
  leaseTransitions: 2,
};

describe("lease decision", () => {
  it.each([
    ["no lease", undefined, "me", 0, 0, "create"],
    ["held by me", { ...held, holderIdentity: "me" }, "me", 0, 100_000, "renew"],
    ["released (empty holder)", { ...held, holderIdentity: "" }, "me", 0, 0, "acquire"],
    ["released (null holder)", { ...held, holderIdentity: null }, "me", 0, 0, "acquire"],
    ["held by another, fresh", held, "me", 10_000, 20_000, "wait"],
    ["held by another, just before expiry", held, "me", 10_000, 24_999, "wait"],
    ["held by another, expired on my clock", held, "me", 10_000, 25_000, "acquire"],
  ] as const)("%s -> %s", (_, lease, identity, observedAt, now, action) => {
    expect(leaseAction(lease, identity, observedAt, now)).toBe(action);
  });

  it("counts a transition when taking over, not when renewing", () => {
    const now = new Date("2026-01-01T00:01:00.000Z");
    const taken = nextLeaseSpec(held, "acquire", "me", 15, now);
    expect(taken).toMatchObject({ holderIdentity: "me", leaseTransitions: 3, leaseDurationSeconds: 15 });
    expect(taken.acquireTime).toBe("2026-01-01T00:01:00.000000Z");
    const renewed = nextLeaseSpec(taken, "renew", "me", 15, new Date("2026-01-01T00:01:05.000Z"));
    expect(renewed).toMatchObject({
      leaseTransitions: 3,
      acquireTime: taken.acquireTime,
      renewTime: "2026-01-01T00:01:05.000000Z",
    });
  });

  it("releases by clearing the holder and shortening the duration", () => {
    expect(releasedLeaseSpec(held, new Date(0))).toMatchObject({
      holderIdentity: null,
      leaseDurationSeconds: 1,
      leaseTransitions: 2,
    });
  });
});
