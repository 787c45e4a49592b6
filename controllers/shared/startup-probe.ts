// The startup probes of the pods the operator renders (serving pods, nearline workers): asked every
// second, with a failure threshold that keeps each one's allowance, so a pod turns Ready within about
// a second of its process being able to serve. The kubelet runs the readiness probe at once when the
// startup probe passes, so the startup probe's period is what a starting pod waits on; a slower one
// (5 s) left a pod that was serving after 3 s unready until 5 or 10 s.
import type { V1Probe } from "@kubernetes/client-node";

/** How often a starting container's startup probe asks. */
export const startupProbePeriodSeconds = 1;

/** The timing of a startup probe that allows `allowanceSeconds` before liveness applies. */
export function startupProbeTiming(
  allowanceSeconds: number,
): Required<Pick<V1Probe, "periodSeconds" | "failureThreshold">> {
  return {
    periodSeconds: startupProbePeriodSeconds,
    failureThreshold: Math.ceil(allowanceSeconds / startupProbePeriodSeconds),
  };
}
