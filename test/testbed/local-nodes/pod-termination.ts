// Graceful deletion of a local pod, as the kubelet does it: preStop hooks, SIGTERM, the grace period,
// SIGKILL for what is left, the final status in a terminal phase, then the sandbox goes and the Pod
// object is finally deleted.
import type { AgentContext } from "./agent-context.ts";
import { signalContainer } from "./container-launch.ts";
import type { ContainerRun } from "./container-run.ts";
import type { PodSandbox } from "./pod-sandbox.ts";
import { runProbe } from "./probe-runner.ts";

/** The parts of a pod worker termination needs. */
export interface TerminatingPod {
  readonly pod: {
    metadata?: { deletionGracePeriodSeconds?: number; name?: string };
    spec?: { terminationGracePeriodSeconds?: number };
  };
  readonly runs: readonly ContainerRun[];
  sandbox: PodSandbox | undefined;
  tick(nowMs: number): Promise<void>;
  /** Writes the stopped pod's final status, in a terminal phase. */
  reportStopped(): Promise<void>;
}

/** Stops every container within the pod's grace period, then cleans up and deletes the Pod. */
export async function terminatePod(worker: TerminatingPod, context: AgentContext): Promise<void> {
  const graceSeconds =
    worker.pod.metadata?.deletionGracePeriodSeconds ?? worker.pod.spec?.terminationGracePeriodSeconds ?? 30;
  const deadlineMs = Date.now() + graceSeconds * 1000;
  await Promise.all(
    worker.runs
      .filter((run) => run.running)
      .map((run) => stopContainer(run, worker.sandbox?.podIP ?? "", deadlineMs)),
  );
  const leftovers = worker.runs.filter((run) => run.running);
  for (const run of leftovers) {
    context.log(
      `pod ${worker.pod.metadata?.name} container ${run.spec.name} still running after its ${graceSeconds} s grace period: SIGKILL`,
    );
    signalContainer(run.pid!, "SIGKILL");
  }
  while (worker.runs.some((run) => run.running)) await new Promise((done) => setTimeout(done, 50));
  // The kubelet reports a deleted pod's terminal phase (Failed, or Succeeded when every container
  // exited 0) before the deletion completes. A Job with a podFailurePolicy replaces only pods in a
  // terminal phase, and its tracking finalizer keeps the Pod object: without this status an evicted
  // shard would stay "Running" forever and its index would never run again.
  await worker.reportStopped();
  worker.sandbox?.teardown();
  worker.sandbox = undefined;
  await context.finalizeDeletion(worker.pod as Parameters<AgentContext["finalizeDeletion"]>[0]);
}

async function stopContainer(run: ContainerRun, podIP: string, deadlineMs: number): Promise<void> {
  const child = run.child;
  if (child?.pid === undefined) return;
  const preStop = run.spec.lifecycle?.preStop;
  if (preStop !== undefined && run.process !== undefined) {
    await runProbe(
      preStop,
      { podIP, container: run.spec, pid: child.pid, env: run.process.env, user: run.process.user },
      Math.max(0, deadlineMs - Date.now()),
    );
  }
  if (run.child !== child) return;
  signalContainer(child.pid, "SIGTERM");
  while (run.child === child && Date.now() < deadlineMs) await new Promise((done) => setTimeout(done, 50));
}
