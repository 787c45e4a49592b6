/**
 * `jude serve` in its own process, for the benchmarks that load it from outside (serving-flood,
 * serving-external). `checkout` picks the source tree the server runs from, so one benchmark run can
 * alternate a baseline checkout and the candidate on the same machine.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** This checkout's root. */
export const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** A `jude serve` process that has loaded and warmed up its model. */
export interface ServeProcess {
  child: ChildProcess;
  grpc: number;
  http: number;
  /** Stops the process (SIGTERM: drain) and waits for it to exit. */
  stop(): Promise<void>;
}

/** What to start. */
export interface ServeCommand {
  modelDir: string;
  /** Root of the checkout to run `cli/jude.ts` from; default this one. */
  checkout?: string;
  /** Node flags of the server process (e.g. --cpu-prof). */
  nodeFlags?: readonly string[];
  /** `jude serve` flags after the model, host and ports. */
  serveFlags?: readonly string[];
}

/** Runs a Node script of this checkout with the same Node, its stdout piped. */
export function runNode(args: readonly string[], cwd = repoRoot): ChildProcess {
  return spawn(process.execPath, [...args], { cwd, stdio: ["ignore", "pipe", "inherit"] });
}

/** Starts `jude serve` on free local ports and resolves once it serves. */
export async function startServe(command: ServeCommand): Promise<ServeProcess> {
  const child = runNode(
    [
      ...(command.nodeFlags ?? []),
      "cli/jude.ts",
      "serve",
      `--model-dir=${command.modelDir}`,
      "--host=127.0.0.1",
      "--grpc-port=0",
      "--http-port=0",
      "--execution-provider=cpu",
      ...(command.serveFlags ?? []),
    ],
    command.checkout ?? repoRoot,
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  let ports: { grpc: number; http: number } | undefined;
  for await (const line of createInterface({ input: child.stdout! })) {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (typeof record.grpcPort === "number")
      ports = { grpc: record.grpcPort, http: record.httpPort as number };
    if (record.msg === "model loaded and warmed up; serving" && ports) {
      child.stdout!.resume();
      return { child, ...ports, stop };
    }
  }
  throw new Error(`jude serve (${command.checkout ?? repoRoot}) exited before it served`);
}

/** The kernel's resident set and its high-water mark of a process, in kB. */
export async function processMemory(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(/(\d+) kB/.exec(text.split(`${name}:`)[1] ?? "")?.[1] ?? 0);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

/** CPU time (user + system, all threads) a process has used so far, in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
