/** Runs kubectl against the testbed cluster from tests. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { requireEnv } from "./env.ts";

const run = promisify(execFile);

/** Runs the testbed's kubectl against the testbed cluster; resolves stdout, rejects with stderr. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const child = run(requireEnv("JUDE_KUBECTL"), ["--kubeconfig", requireEnv("KUBECONFIG"), ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) {
    // A kubectl that exits before reading its input (EPIPE) fails with its own exit code and stderr;
    // with no listener the pipe's error would be an uncaught exception besides.
    child.child.stdin?.on("error", () => undefined);
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

/** `kubectl get -o json` parsed. */
export async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, "-o", "json"])) as T;
}
