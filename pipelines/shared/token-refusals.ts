/**
 * How long a pipeline keeps calling an embedding server that refuses its bearer token
 * (UNAUTHENTICATED), re-reading the token before each try, before it fails as before.
 *
 * A rotated token Secret reaches every pod on its own schedule: the kubelet rewrites each pod's
 * Secret volume within its sync period (about a minute), and a server re-reads its token file every
 * 10 s. For that long a worker may hold the old token while its server already wants the new one, or
 * (rolled, or synced first) the new one while its server still wants the old one. A refused call is
 * retried with back-off until the worker has been refused without a break for `boundMs`: a rotation
 * passes unnoticed, while a wrong token still stops the worker with UNAUTHENTICATED, later by the
 * bound. Any accepted call ends the streak.
 */
import { backoffDelayMs, type RetryPolicy } from "../../plumbing/retry.ts";

/** Back-off between refused tries: a changed token file is picked up within a few seconds. */
export const TOKEN_RETRY_POLICY: RetryPolicy = { initialDelayMs: 500, maxDelayMs: 5_000 };

/** Default bound: a kubelet sync period (60 s) with room for the server's 10 s re-read, twice over. */
export const DEFAULT_TOKEN_REFUSED_RETRY_SECONDS = 150;

/** The refusal streak of one connection (shared by its concurrent calls). */
export class TokenRefusals {
  readonly #boundMs: number;
  readonly #random: () => number;
  #since: number | undefined;
  #attempt = 0;

  constructor(boundMs: number, random: () => number = Math.random) {
    this.#boundMs = boundMs;
    this.#random = random;
  }

  /**
   * A call was refused at `now`: how long to wait before re-reading the token and trying again, or
   * undefined when the connection has been refused for `boundMs` or more (give up: the token is wrong).
   * A wait never reaches past the bound, so the last try happens at it.
   */
  refused(now: number): number | undefined {
    this.#since ??= now;
    const left = this.#since + this.#boundMs - now;
    if (left <= 0) return undefined;
    this.#attempt += 1;
    return Math.min(left, backoffDelayMs(TOKEN_RETRY_POLICY, this.#attempt, this.#random));
  }

  /** A call was accepted: the next refusal starts a new streak. */
  accepted(): void {
    this.#since = undefined;
    this.#attempt = 0;
  }

  /** When the current streak began (undefined: not refused now). */
  get refusedSince(): number | undefined {
    return this.#since;
  }
}
