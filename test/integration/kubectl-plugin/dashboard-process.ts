// `kubectl jude dashboard` started as a user starts it, for the dashboard's integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "../../testbed/paths.ts";

export interface DashboardProcess {
  readonly plugin: ChildProcess;
  /** The URL the plugin printed, `http://127.0.0.1:<port>/`. */
  readonly url: string;
}

/**
 * Starts `kubectl jude dashboard -n namespace` on a free port with `kubeconfig` and resolves once it
 * printed its URL. Its stderr goes to the test's own, or line by line to `onStderrLine`.
 */
export async function startDashboard(
  namespace: string,
  kubeconfig: string,
  onStderrLine?: (line: string) => void,
): Promise<DashboardProcess> {
  const plugin = spawn(
    process.execPath,
    [
      join(repoRoot, "cli/kubectl-jude.ts"),
      "dashboard",
      "-n",
      namespace,
      "--port",
      "0",
      "--kubeconfig",
      kubeconfig,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", onStderrLine === undefined ? "inherit" : "pipe"] },
  );
  const stderr: string[] = [];
  if (onStderrLine !== undefined)
    createInterface({ input: plugin.stderr! }).on("line", (line) => {
      stderr.push(line);
      onStderrLine(line);
    });
  for await (const line of createInterface({ input: plugin.stdout! })) {
    const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
    if (match !== null) return { plugin, url: match[1]! };
  }
  throw new Error(
    `kubectl jude dashboard exited (${plugin.exitCode}) without printing its URL\n${stderr.join("\n")}`,
  );
}
