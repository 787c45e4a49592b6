// Runs the due probes of a pod's running containers: startup first, then liveness and readiness once
// started. A failed startup or liveness verdict kills the container (its restart policy decides the rest).
import type { V1Probe } from "@kubernetes/client-node";
import { signalContainer } from "./container-launch.ts";
import type { ContainerRun } from "./container-run.ts";
import { runProbe } from "./probe-runner.ts";
import type { ProbeKind } from "./probe-schedule.ts";

/** The parts of a pod worker the probes need. */
export interface ProbedPod {
  readonly containers: readonly ContainerRun[];
  readonly sandbox: { podIP: string } | undefined;
  readonly pod: { spec?: { terminationGracePeriodSeconds?: number } };
  tick(nowMs: number): Promise<void>;
}

/** Starts every due probe that is not already in flight; results arrive asynchronously. */
export function runProbes(pod: ProbedPod, nowMs: number): void {
  for (const run of pod.containers) {
    if (!run.running || pod.sandbox === undefined) continue;
    for (const kind of ["startup", "liveness", "readiness"] as const) {
      const schedule = run.probes[kind];
      if (schedule === undefined || run.probing.has(kind) || !schedule.isDue(nowMs)) continue;
      if (kind !== "startup" && !run.started) continue;
      void probeOnce(pod, run, kind, pod.sandbox.podIP);
    }
  }
}

async function probeOnce(pod: ProbedPod, run: ContainerRun, kind: ProbeKind, podIP: string): Promise<void> {
  const schedule = run.probes[kind]!;
  const spec = probeSpec(run, kind);
  const child = run.child;
  if (spec === undefined || child?.pid === undefined || run.process === undefined) return;
  run.probing.add(kind);
  try {
    const success = await runProbe(
      spec,
      { podIP, container: run.spec, pid: child.pid, env: run.process.env, user: run.process.user },
      schedule.timeoutMs,
    );
    // A probe that finished after its container restarted says nothing about the new run.
    if (run.child !== child || run.probes[kind] !== schedule) return;
    const changed = schedule.record(success, Date.now());
    if (changed && kind !== "readiness" && schedule.verdict === "failure") {
      run.killReason = `${kind} probe failed`;
      killWithGrace(child.pid, pod.pod.spec?.terminationGracePeriodSeconds ?? 30, () => run.child === child);
    }
    if (changed) await pod.tick(Date.now());
  } finally {
    run.probing.delete(kind);
  }
}

function probeSpec(run: ContainerRun, kind: ProbeKind): V1Probe | undefined {
  if (kind === "startup") return run.spec.startupProbe;
  if (kind === "liveness") return run.spec.livenessProbe;
  return run.spec.readinessProbe;
}

/** SIGTERM to the container's group, SIGKILL after the grace period if it is still the same run. */
export function killWithGrace(pid: number, graceSeconds: number, stillRunning: () => boolean): void {
  signalContainer(pid, "SIGTERM");
  setTimeout(() => {
    if (stillRunning()) signalContainer(pid, "SIGKILL");
  }, graceSeconds * 1000).unref();
}
