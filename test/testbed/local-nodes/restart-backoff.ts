// The kubelet's restart policy and crash-loop back-off, as pure decisions.
import type { V1Pod } from "@kubernetes/client-node";

/** First delay after the first restart, doubling up to the cap (the kubelet's 10 s and 5 min). */
export const initialBackoffMs = 10_000;
export const maxBackoffMs = 300_000;
/** A container that ran this long without exiting resets its back-off, as the kubelet does. */
export const backoffResetMs = 600_000;

/** Whether a container that exited with `exitCode` is restarted under the pod's restartPolicy. */
export function shouldRestart(restartPolicy: string | undefined, exitCode: number): boolean {
  const policy = restartPolicy ?? "Always";
  if (policy === "Always") return true;
  if (policy === "OnFailure") return exitCode !== 0;
  return false;
}

/**
 * Delay before starting a container again after `restartCount` restarts: the first restart is
 * immediate, then 10 s doubling to 5 min; a run of `backoffResetMs` or longer starts over.
 */
export function restartDelayMs(restartCount: number, lastRunMs: number): number {
  if (restartCount === 0 || lastRunMs >= backoffResetMs) return 0;
  return Math.min(initialBackoffMs * 2 ** (restartCount - 1), maxBackoffMs);
}

/** Pod phase from its containers' states, the way the kubelet derives it. */
export function podPhase(
  pod: V1Pod,
  containers: readonly { running: boolean; exitCode: number | undefined; willRestart: boolean }[],
  initialized: boolean,
): "Pending" | "Running" | "Succeeded" | "Failed" {
  if (!initialized) return "Pending";
  if (containers.some((c) => c.running || c.willRestart)) return "Running";
  if (containers.some((c) => c.exitCode === undefined)) return "Pending";
  const policy = pod.spec?.restartPolicy ?? "Always";
  if (policy === "Always") return "Running";
  return containers.every((c) => c.exitCode === 0) ? "Succeeded" : "Failed";
}
