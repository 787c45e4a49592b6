// The operator as a real process (`jude operator`, the image's entry point) for end-to-end tests that
// kill it: SIGKILL ends it mid-reconcile the way an OOM kill or a node loss would, with no drain, so a
// test shows that the next process resumes from what it observes. Its JSON log is kept in a file the
// test reads back (e.g. when the operator switched the store pointer).
import { readFileSync } from "node:fs";
import { startJudeOperator, stopJude, type JudeProcess } from "../../support/processes.ts";
import { localNodePlacement } from "../../testbed/local-nodes/local-node-registry.ts";

/** A running operator process watching one namespace, its workloads placed on the local nodes. */
export interface OperatorProcess {
  readonly process: JudeProcess;
  /** SIGKILL: no drain, no final status write. */
  kill(): Promise<void>;
  /** SIGTERM and the graceful drain; its exit code, or "running" (then SIGKILLed) after 15 s. */
  stop(): Promise<number | null | "running">;
}

/**
 * The flags of an end-to-end operator: quick drains, pipeline status refreshed every 5 s (not 30: each
 * promotion's CaughtUp gate waits for the refresh after the candidate's workers start), the testbed's
 * image, workloads on the local nodes.
 */
export const localNodeOperatorArgs: readonly string[] = [
  "--concurrency=2",
  "--drain-seconds=5",
  "--pipeline-poll-seconds=5",
  "--image-repository=ghcr.io/jude-dev/jude",
  "--image-tag=0.1.0",
  `--workload-node-selector=${Object.entries(localNodePlacement.nodeSelector)
    .map(([key, value]) => `${key}=${value}`)
    .join(",")}`,
  `--workload-tolerations=${JSON.stringify(localNodePlacement.tolerations)}`,
];

let started = 0;

/** Starts `jude operator` on `namespace` and waits until it is ready (informers synced). */
export async function startOperatorProcess(namespace: string): Promise<OperatorProcess> {
  started += 1;
  const { process } = await startJudeOperator(`${namespace}-operator-${started}`, namespace, [
    ...localNodeOperatorArgs,
  ]);
  return {
    process,
    kill: async () => void (await stopJude(process, "SIGKILL")),
    stop: async () => {
      const exited = await Promise.race([
        stopJude(process, "SIGTERM"),
        new Promise<"running">((resolve) => setTimeout(() => resolve("running"), 15_000)),
      ]);
      if (exited === "running") await stopJude(process, "SIGKILL");
      return exited;
    },
  };
}

/** The JSON log lines of `operator` whose msg is `message`. */
export function operatorLogLines(operator: OperatorProcess, message: string): Record<string, unknown>[] {
  return readFileSync(operator.process.logFile, "utf8")
    .split("\n")
    .flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        return entry.msg === message ? [entry] : [];
      } catch {
        return [];
      }
    });
}
