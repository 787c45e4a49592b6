// When a key's failed reconciles become something to report on the object. The first failure of a
// streak is reported at once, as not persistent: the object stops saying what the last successful
// reconcile wrote as if nothing failed, but one failure is usually transient (a conflict, a restarting
// Redis), so it is shown as being retried, not as stuck. A key that has failed on every try for a while
// (at least `minFailures` tries, the first `afterMs` ago) is reported as persistent, so `kubectl get`
// says Stalled about an object nothing converges any more. Nothing else is reported in between, and
// persistent reports repeat at most once per `afterMs` while the streak lasts: each status write is a
// watch event that wakes the key early, so reporting on every failure would cancel the back-off (the
// first report costs one early retry per streak). Pure bookkeeping; the caller passes the time.

/** When a streak of failures is persistent. */
export interface FailurePolicy {
  /** The first failure of the streak is at least this old. */
  afterMs: number;
  /** And the key failed at least this many times in a row. */
  minFailures: number;
}

/** Report after a minute of failing and at least three tries (the default of `jude operator`). */
export const defaultFailurePolicy: FailurePolicy = { afterMs: 60_000, minFailures: 3 };

/** A streak of consecutive failures of one key. */
export interface FailureStreak {
  /** When the first failure of the streak happened. */
  sinceMs: number;
  failures: number;
}

/** A streak to report now: its first failure (`persistent` false), or a persistent one. */
export interface FailureReport extends FailureStreak {
  persistent: boolean;
}

/** Per-key streaks of failed reconciles, and whether (and when) each is due to be reported. */
export class FailureStreaks {
  readonly #policy: FailurePolicy;
  readonly #streaks = new Map<string, FailureStreak & { reportedMs?: number }>();

  constructor(policy: FailurePolicy = defaultFailurePolicy) {
    this.#policy = policy;
  }

  /**
   * Records a failure of `key` at `nowMs`; returns the streak when it should be reported now (its
   * first failure; or persistent, and not reported as such within the last `afterMs`), otherwise
   * undefined.
   */
  failed(key: string, nowMs: number): FailureReport | undefined {
    const streak = this.#streaks.get(key) ?? { sinceMs: nowMs, failures: 0 };
    streak.failures += 1;
    this.#streaks.set(key, streak);
    const { afterMs, minFailures } = this.#policy;
    const persistent = streak.failures >= minFailures && nowMs - streak.sinceMs >= afterMs;
    const quiet = streak.reportedMs === undefined || nowMs - streak.reportedMs >= afterMs;
    if (persistent && quiet) {
      streak.reportedMs = nowMs;
      return { sinceMs: streak.sinceMs, failures: streak.failures, persistent: true };
    }
    if (streak.failures === 1 && !persistent)
      return { sinceMs: streak.sinceMs, failures: 1, persistent: false };
    return undefined;
  }

  /** Ends the streak of `key` (it reconciled successfully, or it is gone). */
  succeeded(key: string): void {
    this.#streaks.delete(key);
  }

  /** Keys with a streak; for tests and metrics. */
  get size(): number {
    return this.#streaks.size;
  }
}
