// Probe timing and thresholds as the kubelet applies them: when the next probe is due and when
// consecutive results flip a probe's verdict. Pure; the agent feeds it the clock and the results.
import type { V1Probe } from "@kubernetes/client-node";

/** The three probe kinds; they differ only in their verdict before the first result. */
export type ProbeKind = "startup" | "readiness" | "liveness";

/** A probe's current verdict. */
export type ProbeVerdict = "success" | "failure" | "unknown";

/**
 * Tracks one probe of one container run. Readiness starts as failure (not ready until proven),
 * liveness as success (alive until proven dead), startup as unknown (not started).
 */
export class ProbeSchedule {
  readonly kind: ProbeKind;
  readonly periodMs: number;
  readonly timeoutMs: number;
  #verdict: ProbeVerdict;
  #nextDueMs: number;
  #successes = 0;
  #failures = 0;
  readonly #successThreshold: number;
  readonly #failureThreshold: number;

  constructor(kind: ProbeKind, probe: V1Probe, containerStartedAtMs: number) {
    this.kind = kind;
    this.periodMs = (probe.periodSeconds ?? 10) * 1000;
    this.timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    // Liveness and startup probes must use a success threshold of 1 (API validation enforces it).
    this.#successThreshold = kind === "readiness" ? (probe.successThreshold ?? 1) : 1;
    this.#failureThreshold = probe.failureThreshold ?? 3;
    this.#verdict = kind === "liveness" ? "success" : kind === "readiness" ? "failure" : "unknown";
    this.#nextDueMs = containerStartedAtMs + (probe.initialDelaySeconds ?? 0) * 1000;
  }

  /** The verdict after the results recorded so far. */
  get verdict(): ProbeVerdict {
    return this.#verdict;
  }

  /** When the next probe should run (epoch ms). */
  get nextDueMs(): number {
    return this.#nextDueMs;
  }

  /** True when a probe should run at `nowMs`. */
  isDue(nowMs: number): boolean {
    return nowMs >= this.#nextDueMs;
  }

  /** Records one result observed at `nowMs`; returns true when the verdict changed. */
  record(success: boolean, nowMs: number): boolean {
    this.#nextDueMs = nowMs + this.periodMs;
    if (success) {
      this.#successes += 1;
      this.#failures = 0;
    } else {
      this.#failures += 1;
      this.#successes = 0;
    }
    const before = this.#verdict;
    if (success && this.#successes >= this.#successThreshold) this.#verdict = "success";
    if (!success && this.#failures >= this.#failureThreshold) this.#verdict = "failure";
    return before !== this.#verdict;
  }
}
