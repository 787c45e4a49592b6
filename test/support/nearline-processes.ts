/**
 * Nearline workers as child processes for end-to-end tests: the real `jude nearline`, or the same
 * main() with one batch held at a step (test/e2e/fixtures/nearline-held.ts), and their metrics.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { probe } from "../testbed/http-probe.ts";
import { repoRoot, stateDir } from "../testbed/paths.ts";
import { requireEnv } from "./env.ts";
import { startJude, type JudeProcess } from "./processes.ts";

/** A held worker: `held` resolves with the step and the held batch's event count once it holds. */
export interface HeldWorker extends JudeProcess {
  held: Promise<{ step: string; events: number }>;
}

/** Environment every test worker needs (the store URL the test config names). */
function workerEnv(podName: string | undefined): NodeJS.ProcessEnv {
  return {
    JUDE_TEST_STORE_URL: requireEnv("JUDE_REDIS_URL"),
    ...(podName !== undefined ? { JUDE_POD_NAME: podName } : {}),
  };
}

/** `jude nearline --config <file>`; `podName` turns on static group membership. */
export function startWorker(name: string, configFile: string, podName?: string): JudeProcess {
  return startJude(`nearline-${name}`, ["nearline", "--config", configFile], workerEnv(podName));
}

/** The worker's main() holding its first batch with output records at `step`. */
export function startHeldWorker(
  name: string,
  configFile: string,
  step: string,
  podName?: string,
): HeldWorker {
  const logDir = join(stateDir(), "logs", "e2e");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `nearline-${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(
    process.execPath,
    [join(repoRoot, "test/e2e/fixtures/nearline-held.ts"), "--config", configFile],
    {
      cwd: repoRoot,
      env: { ...process.env, JUDE_LOG_LEVEL: "info", JUDE_TEST_HOLD_AT: step, ...workerEnv(podName) },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stderr.pipe(log);
  const held = Promise.withResolvers<{ step: string; events: number }>();
  let pending = "";
  child.stdout.on("data", (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const match = /^HELD (\w+) (\d+)$/.exec(line);
      if (match) held.resolve({ step: match[1]!, events: Number(match[2]) });
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void exited.then((code) =>
    held.reject(new Error(`held worker exited (${code}) before holding; see ${logFile}`)),
  );
  held.promise.catch(() => undefined);
  return { child, exited, logFile, held: held.promise };
}

/** Sum of a metric's series in Prometheus text whose labels contain `labels` (e.g. `dependency="kafka"`). */
export function metricSum(text: string, name: string, labels = ""): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** The same, read from a worker's /metrics. */
export async function workerMetric(port: number, name: string, labels = ""): Promise<number> {
  return metricSum((await probe(`http://127.0.0.1:${port}/metrics`)).body, name, labels);
}
