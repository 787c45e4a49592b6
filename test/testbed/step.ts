import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cacheDir } from "./paths.ts";
import { isAlive } from "./process.ts";
import type { ProvisionStep } from "./schedule.ts";

/** A provisioning or start-up step that failed: which step, why, and where its log is. */
export class TestbedStepError extends Error {
  readonly step: string;
  readonly logFile: string | undefined;
  constructor(step: string, reason: string, logFile?: string, options?: ErrorOptions) {
    const tail = logFile !== undefined ? lastLines(logFile, 15) : "";
    super(
      `testbed step "${step}" failed: ${reason}` +
        (logFile !== undefined ? `\n  log: ${logFile}` : "") +
        (tail !== "" ? `\n  last lines:\n${tail.replace(/^/gm, "    ")}` : ""),
      options,
    );
    this.name = "TestbedStepError";
    this.step = step;
    this.logFile = logFile;
  }
}

function lastLines(file: string, count: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-count).join("\n");
  } catch {
    return "";
  }
}

/** Log file of a build step in the cache's log folder. */
export function buildLog(name: string): string {
  return join(cacheDir(), "logs", `${name}.log`);
}

/**
 * Runs a command to completion with its output in `logFile`; a non-zero exit becomes a
 * TestbedStepError naming the step and the log.
 */
export async function runStep(
  step: string,
  command: string,
  args: string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<void> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, "a");
  try {
    const code = await new Promise<number | null>((resolveExit, reject) => {
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ["ignore", log, log],
      });
      child.once("error", reject);
      child.once("exit", (exitCode) => resolveExit(exitCode));
    }).catch((error: unknown) => {
      throw new TestbedStepError(step, `could not run ${command}: ${String(error)}`, options.logFile, {
        cause: error,
      });
    });
    if (code !== 0) throw new TestbedStepError(step, `${command} exited with ${code}`, options.logFile);
  } finally {
    closeSync(log);
  }
}

/**
 * Builds a cache entry once. `isComplete` says whether the entry is usable; `build` produces it.
 * `logFile` (default: the entry's build log) is named in the progress line.
 * A lock directory serialises concurrent builders (two test runs, or `up` beside a test run); a lock
 * left by a dead process is taken over.
 */
export async function ensureCached(
  name: string,
  isComplete: () => boolean,
  build: () => Promise<void>,
  logFile: string = buildLog(name),
): Promise<void> {
  if (isComplete()) return;
  const lock = join(cacheDir(), "locks", `${name}.lock`);
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number.parseInt(readIfExists(join(lock, "pid")) ?? "", 10);
      if (Number.isFinite(holder) && !isAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else await sleep(1000);
      if (isComplete()) return;
    }
  }
  try {
    if (!isComplete()) {
      process.stderr.write(`[testbed] building ${name} (log: ${logFile})\n`);
      const started = Date.now();
      await build();
      if (!isComplete())
        throw new TestbedStepError(`build ${name}`, "build finished but its output is missing");
      process.stderr.write(`[testbed] built ${name} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readIfExists(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

/**
 * The steps that fill one cache entry from a Go build script (go-tool.sh, kube.sh): the module download
 * (`--fetch-only`, network lane) and the compile (cpu lane, under the entry's lock, after the download).
 * None when the entry is complete.
 */
export function goBuildSteps(spec: {
  /** Cache entry and log name, e.g. "kube-1.34.4". */
  entry: string;
  isComplete: () => boolean;
  script: string;
  args: string[];
}): ProvisionStep[] {
  if (spec.isComplete()) return [];
  const fetch = `fetch ${spec.entry} modules`;
  return [
    {
      name: fetch,
      lane: "net",
      run: async () => {
        if (spec.isComplete()) return;
        const logFile = buildLog(`${spec.entry}-fetch`);
        process.stderr.write(`[testbed] fetching the Go modules of ${spec.entry} (log: ${logFile})\n`);
        await runStep(fetch, "bash", [spec.script, "--fetch-only", ...spec.args], { logFile });
      },
    },
    {
      name: `build ${spec.entry}`,
      lane: "cpu",
      after: [fetch],
      run: () =>
        ensureCached(spec.entry, spec.isComplete, () =>
          runStep(`build ${spec.entry}`, "bash", [spec.script, ...spec.args], {
            logFile: buildLog(spec.entry),
          }),
        ),
    },
  ];
}
