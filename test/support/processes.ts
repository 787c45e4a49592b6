/** Child processes of the `jude` CLI for end-to-end tests: start, wait until ready, kill, restart. */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, stateDir } from "../testbed/paths.ts";
import { probe } from "../testbed/http-probe.ts";
import { freePort } from "../testbed/ports.ts";
import { waitFor } from "../testbed/wait.ts";
import { requireEnv } from "./env.ts";

export interface JudeProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  logFile: string;
}

/** Runs `node cli/jude.ts <args>` with output in a log file under the testbed's log folder. */
export function startJude(name: string, args: string[], env: NodeJS.ProcessEnv = {}): JudeProcess {
  const logDir = join(stateDir(), "logs", "e2e");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(process.execPath, [join(repoRoot, "cli/jude.ts"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, JUDE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // One that cannot start never gets ready: waitReady fails with that, not an uncaught exception.
  child.on("error", () => undefined);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, logFile };
}

/** Waits until `GET http://127.0.0.1:<port>/readyz` answers 200 (fails early if the process exits). */
export async function waitReady(process: JudeProcess, port: number, timeoutMs = 120_000): Promise<void> {
  let exitCode: number | null | undefined;
  void process.exited.then((code) => (exitCode = code));
  await waitFor(
    `${process.logFile} to become ready`,
    async () => {
      if (exitCode !== undefined) throw new Error(`process exited with ${exitCode}; see ${process.logFile}`);
      return (await probe(`http://127.0.0.1:${port}/readyz`)).status === 200;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Sends a signal and waits for the exit code. */
export async function stopJude(
  process: JudeProcess,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<number | null> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill(signal);
  return process.exited;
}

/**
 * `jude operator` on the testbed's API server watching `namespace`, without leader election, its ops
 * server on a free local port, with `flags` added; resolves once it is ready (informers synced).
 * Its log is `<name>.log`.
 */
export async function startJudeOperator(
  name: string,
  namespace: string,
  flags: string[] = [],
): Promise<{ process: JudeProcess; port: number }> {
  const port = await freePort();
  const process = startJude(name, [
    "operator",
    `--kubeconfig=${requireEnv("KUBECONFIG")}`,
    `--namespaces=${namespace}`,
    "--leader-elect=false",
    "--http-host=127.0.0.1",
    `--http-port=${port}`,
    ...flags,
  ]);
  await waitReady(process, port);
  return { process, port };
}
