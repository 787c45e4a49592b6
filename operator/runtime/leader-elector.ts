// Leader election on a coordination.k8s.io/v1 Lease: only the holder runs the controllers. A standby
// polls every retryPeriod and takes the Lease once it has not changed for leaseDuration; the leader
// renews every retryPeriod and gives up leadership when it could not renew for renewDeadline (then
// the process must stop reconciling: two leaders would fight). Updates carry the Lease's
// resourceVersion, so of two replicas racing for it exactly one wins. On shutdown the Lease is kept
// while reconciles drain and released afterwards, so a standby takes over without waiting for it to
// expire (manager.ts). Every attempt is bounded by the
// renew deadline (client-go bounds it the same way): behind a partition or a hung load balancer a
// request neither answers nor fails, and an unbounded one would keep this replica leading long after
// a standby took the Lease over.
//
// Stopping on a failed renewal is not enough when the process itself stops (SIGSTOP, a frozen VM or
// cgroup, a long GC pause): when it runs again, the reconciles it had in flight continue at once, with
// their replies already in the socket, before the renewal timer can notice anything, and the
// leadership signal is still not aborted. `holds()` is the check that does not need the timer: this
// replica holds the Lease only until renewDeadline after the start of its last successful renewal, on
// the monotonic clock, which runs on while the process is stopped. A standby takes the Lease no sooner
// than leaseDuration after it saw that renewal (which was sent after it started), so a write checked
// with holds() just before it is sent has leaseDuration - renewDeadline (5 s by default) to arrive.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../plumbing/logger.ts";
import { hasStatus } from "./api-error.ts";
import type { KubeClient } from "./kube-client.ts";
import { leaseAction, nextLeaseSpec, releasedLeaseSpec, type LeaseRecord } from "./lease-decision.ts";
import { resourcePath, resourceTypes } from "./resource-types.ts";
import type { KubeObject } from "./types.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface Lease extends KubeObject {
  spec?: LeaseRecord;
}

const fieldManager = "jude-operator-leader-election";

/** Competes for one Lease. */
export class LeaderElector {
  readonly #client: KubeClient;
  readonly #options: LeaderElectionOptions;
  readonly #log: Logger;
  #observed: { holder: string; renewTime: string; atMs: number } | undefined;
  #lease: Lease | undefined;
  /** performance.now() until which this replica may act as leader (see holds()). */
  #heldUntil = -Infinity;

  constructor(client: KubeClient, options: LeaderElectionOptions, log: Logger) {
    this.#client = client;
    this.#options = options;
    this.#log = log.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  /** Resolves once this replica holds the Lease; rejects with the abort reason when `signal` aborts. */
  async acquire(signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      // An unreachable API server is retried like a held Lease: a standby must not exit for it.
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(this.#options.renewDeadlineMs)]);
      const acquired = await this.#tryAcquireOrRenew(attempt).catch((error: unknown) => {
        this.#log.warn({ err: error }, "could not read or write the leader lease; retrying");
        return false;
      });
      if (acquired) {
        this.#log.info("became leader");
        return;
      }
      await sleep(this.#options.retryPeriodMs, undefined, { signal });
    }
  }

  /**
   * Renews the Lease every retryPeriod until `signal` aborts (resolves) or renewal failed for
   * renewDeadline (rejects: leadership is lost).
   */
  async keep(signal: AbortSignal): Promise<void> {
    // The monotonic clock: a step of the wall clock (NTP, a restored VM) must neither cut the next
    // attempt short and give up a Lease that renews fine, nor stretch the renew deadline.
    let lastRenewMs = performance.now();
    while (!signal.aborted) {
      await sleep(this.#options.retryPeriodMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      const leftMs = lastRenewMs + this.#options.renewDeadlineMs - performance.now();
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, Math.ceil(leftMs)))]);
      if (await this.#tryAcquireOrRenew(attempt).catch(() => false)) {
        lastRenewMs = performance.now();
      } else if (signal.aborted) {
        return;
      } else if (performance.now() - lastRenewMs >= this.#options.renewDeadlineMs) {
        throw new Error(`lost the leader lease: not renewed for ${this.#options.renewDeadlineMs} ms`);
      }
    }
  }

  /**
   * Whether this replica still holds the Lease by its own reckoning: less than renewDeadline has
   * passed since its last successful renewal began. False from then on, however long its renewal
   * timer takes to run, and so right after the process resumes from a stop that outlasted it.
   */
  holds(): boolean {
    return performance.now() < this.#heldUntil;
  }

  /**
   * Hands the Lease back if this replica still holds it (best effort). The Lease is read again first:
   * a renewal cut short when keep() stopped may have been applied by the server all the same, and a
   * write with the resourceVersion from before it would be refused (409), leaving the standby to wait
   * out the whole Lease.
   */
  async release(): Promise<void> {
    if (this.#lease === undefined) return; // never led
    const signal = AbortSignal.timeout(this.#options.renewDeadlineMs);
    try {
      const lease = await this.#client.get<Lease>(this.#path(), signal);
      if (lease?.spec?.holderIdentity !== this.#options.identity) return;
      await this.#client.update(
        this.#path(),
        { ...lease, spec: releasedLeaseSpec(lease.spec, new Date()) },
        fieldManager,
        signal,
      );
      this.#log.info("released the leader lease");
    } catch (error) {
      this.#log.warn({ err: error }, "could not release the leader lease; it expires on its own");
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.#options;
    // Before the read: the Lease this attempt writes expires for others no sooner than this.
    const attemptStartedAt = performance.now();
    const current = await this.#client.get<Lease>(this.#path(), signal);
    // When this replica saw the Lease change is judged on the monotonic clock: a wall clock stepped
    // forward would otherwise let a standby take a Lease its holder renews in time (two leaders).
    // The wall clock only dates the renewTime written.
    const nowMs = performance.now();
    const holder = current?.spec?.holderIdentity ?? "";
    const renewTime = current?.spec?.renewTime ?? "";
    if (this.#observed?.holder !== holder || this.#observed.renewTime !== renewTime) {
      this.#observed = { holder, renewTime, atMs: nowMs };
    }
    const action = leaseAction(current?.spec, identity, this.#observed.atMs, nowMs);
    if (action === "wait") return false;
    const spec = nextLeaseSpec(
      current?.spec,
      action,
      identity,
      Math.ceil(leaseDurationMs / 1000),
      new Date(),
    );
    try {
      this.#lease =
        action === "create"
          ? await this.#client.create<Lease>(
              resourcePath(resourceTypes.lease, namespace),
              { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec },
              fieldManager,
              signal,
            )
          : await this.#client.update<Lease>(this.#path(), { ...current, spec }, fieldManager, signal);
      this.#heldUntil = attemptStartedAt + this.#options.renewDeadlineMs;
      return true;
    } catch (error) {
      // Another replica wrote first (409 on update, 409 AlreadyExists on create): it leads.
      if (hasStatus(error, 409)) return false;
      throw error;
    }
  }

  #path(): string {
    return resourcePath(resourceTypes.lease, this.#options.namespace, this.#options.name);
  }
}
