// Runs the testbed's helm against the testbed cluster (the chart tests' counterpart of kubectl.ts).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { requireEnv } from "./env.ts";

const run = promisify(execFile);

/** Runs helm with the testbed kubeconfig; resolves stdout, rejects with stderr. */
export async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(requireEnv("JUDE_HELM"), ["--kubeconfig", requireEnv("KUBECONFIG"), ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}
