// What `npm run testbed -- status` shows about local pods: the agent writes this snapshot whenever it
// changes, so the CLI reads real pids without asking the agent.
import type { PodWorker } from "./pod-worker.ts";

/** One local pod in the snapshot. */
export interface PodSnapshot {
  namespace: string;
  name: string;
  node: string;
  ip: string | undefined;
  containers: {
    name: string;
    pid: number | undefined;
    state: string;
    restarts: number;
    ready: boolean;
    /** `checkout` or `image <ref> (<id>)`; absent before the first start. */
    from?: string;
  }[];
}

/** The snapshot file's content. */
export interface AgentSnapshot {
  pods: PodSnapshot[];
  serviceListeners: string[];
}

/** Builds the snapshot from the live workers. */
export function podsSnapshot(workers: readonly PodWorker[], serviceListeners: string[]): AgentSnapshot {
  return {
    pods: workers.map((worker) => ({
      namespace: worker.pod.metadata?.namespace ?? "",
      name: worker.pod.metadata?.name ?? "",
      node: worker.pod.spec?.nodeName ?? "",
      ip: worker.sandbox?.podIP,
      containers: worker.runs.map((run) => ({
        name: run.spec.name,
        pid: run.pid,
        state: run.running
          ? "running"
          : (run.waiting?.reason ??
            (run.terminated === undefined ? "waiting" : `exited ${run.terminated.exitCode}`)),
        restarts: run.restartCount,
        ready: run.ready,
        ...(run.source === undefined ? {} : { from: run.source }),
      })),
    })),
    serviceListeners: serviceListeners.sort(),
  };
}
