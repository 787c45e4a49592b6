// The testbed CLI's local-node commands: the pods with their real pids (`status`), a container's log
// (`logs POD`), and the host address of a Service (`service NAME`).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AgentSnapshot } from "./agent-snapshot.ts";
import { podLogDir, snapshotFile } from "./paths.ts";

/** Lines describing the local pods, for `npm run testbed -- status`; empty when the agent is not up. */
export function localPodLines(): string[] {
  if (!existsSync(snapshotFile())) return [];
  const snapshot = JSON.parse(readFileSync(snapshotFile(), "utf8")) as AgentSnapshot;
  const lines = ["", "local pods (namespace/name node ip: container pid state restarts ready from):"];
  for (const pod of snapshot.pods) {
    lines.push(`  ${pod.namespace}/${pod.name} ${pod.node} ${pod.ip ?? "-"}`);
    for (const container of pod.containers) {
      lines.push(
        `    ${container.name} pid=${container.pid ?? "-"} ${container.state} restarts=${container.restarts} ready=${container.ready} from=${container.from ?? "-"}`,
      );
    }
  }
  if (snapshot.pods.length === 0) lines.push("  (none)");
  lines.push(`service listeners: ${snapshot.serviceListeners.join(" ") || "(none)"}`);
  return lines;
}

/** Parsed `logs` arguments: POD [-n NAMESPACE] [-c CONTAINER] [--previous]. */
export interface LogsRequest {
  pod: string;
  namespace: string;
  container: string | undefined;
  previous: boolean;
}

/** Parses `logs` arguments; throws with the usage for bad ones. */
export function parseLogsArgs(args: readonly string[]): LogsRequest {
  const request: LogsRequest = { pod: "", namespace: "default", container: undefined, previous: false };
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === "-n" || arg === "--namespace") request.namespace = args[(index += 1)] ?? "";
    else if (arg === "-c" || arg === "--container") request.container = args[(index += 1)];
    else if (arg === "-p" || arg === "--previous") request.previous = true;
    else if (request.pod === "") request.pod = arg;
    else
      throw new Error(
        `unexpected argument "${arg}"; usage: logs POD [-n NAMESPACE] [-c CONTAINER] [--previous]`,
      );
  }
  if (request.pod === "" || request.namespace === "") {
    throw new Error("usage: logs POD [-n NAMESPACE] [-c CONTAINER] [--previous]");
  }
  return request;
}

/** A local container's log (the current run, or the one before with `previous`). */
export function readContainerLog(request: LogsRequest): string {
  const root = podLogDir();
  const podDirs = existsSync(root)
    ? readdirSync(root).filter((name) => name.startsWith(`${request.namespace}_${request.pod}_`))
    : [];
  if (podDirs.length === 0)
    throw new Error(`no logs of pod ${request.namespace}/${request.pod} on the local nodes`);
  // Several pods may have had this name (a Job retry, a recreated pod): the newest one wins.
  const newest = podDirs
    .sort((a, b) => statSync(join(root, a)).mtimeMs - statSync(join(root, b)).mtimeMs)
    .at(-1)!;
  const podDir = join(root, newest);
  const containers = readdirSync(podDir);
  const container = request.container ?? (containers.length === 1 ? containers[0] : undefined);
  if (container === undefined || !containers.includes(container)) {
    throw new Error(`pod ${request.pod} has containers ${containers.join(", ")}; choose one with -c`);
  }
  const runs = readdirSync(join(podDir, container))
    .map((file) => Number.parseInt(file, 10))
    .sort((a, b) => a - b);
  const run = request.previous ? runs.at(-2) : runs.at(-1);
  if (run === undefined) throw new Error(`container ${container} has no previous run`);
  return readFileSync(join(podDir, container, `${run}.log`), "utf8");
}
