// The pure part of leader election: given the Lease as last read, may this replica take or keep it?
// Expiry is judged on this replica's own monotonic clock from when it last saw the Lease change
// (client-go's rule), never by comparing its clock with another replica's renewTime, so neither clock
// skew between replicas nor a step of the wall clock can make two leaders.

/** The Lease spec fields leader election uses. */
export interface LeaseRecord {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  renewTime?: string | null;
  acquireTime?: string | null;
  leaseTransitions?: number | null;
}

/** What to do with the Lease. */
export type LeaseAction = "create" | "renew" | "acquire" | "wait";

/**
 * `observedAtMs` is when this replica first saw the Lease in its current state (holder and renewTime);
 * a Lease another replica holds is taken only after that plus its duration has passed.
 */
export function leaseAction(
  lease: LeaseRecord | undefined,
  identity: string,
  observedAtMs: number,
  nowMs: number,
): LeaseAction {
  if (lease === undefined) return "create";
  const holder = lease.holderIdentity ?? "";
  if (holder === identity) return "renew";
  if (holder === "") return "acquire";
  const durationMs = (lease.leaseDurationSeconds ?? 0) * 1000;
  return nowMs >= observedAtMs + durationMs ? "acquire" : "wait";
}

/** The spec to write for `action` ("renew" keeps acquireTime and transitions). */
export function nextLeaseSpec(
  lease: LeaseRecord | undefined,
  action: Exclude<LeaseAction, "wait">,
  identity: string,
  leaseDurationSeconds: number,
  now: Date,
): LeaseRecord {
  const time = now.toISOString().replace(/Z$/, "000Z");
  const transitions = lease?.leaseTransitions ?? 0;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    renewTime: time,
    acquireTime: action === "renew" ? (lease?.acquireTime ?? time) : time,
    leaseTransitions: action === "acquire" ? transitions + 1 : transitions,
  };
}

/** The spec that hands the Lease back on shutdown, so a standby takes over at once. */
export function releasedLeaseSpec(lease: LeaseRecord, now: Date): LeaseRecord {
  return {
    ...lease,
    holderIdentity: null,
    leaseDurationSeconds: 1,
    renewTime: now.toISOString().replace(/Z$/, "000Z"),
  };
}
