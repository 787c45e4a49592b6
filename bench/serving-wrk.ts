/**
 * The external benchmark's HTTP load generator: `wrk` (Debian's 4.1.0, installed the testbed's way
 * when missing), driven by a Lua script that rotates through prepared OpenAI `POST /v1/embeddings`
 * bodies and prints throughput and latency percentiles as one JSON line when done.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { installDebianPackages } from "../test/testbed/debian-packages.ts";

const run = promisify(execFile);

/** Installs wrk unless it is on PATH (JUDE_WRK_BIN names another binary). */
export async function ensureWrk(): Promise<string> {
  const binary = process.env.JUDE_WRK_BIN ?? "wrk";
  try {
    await run(binary, ["--version"]);
  } catch (error) {
    // wrk --version prints its banner and exits 1: only a missing binary is a failure.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return binary;
    await installDebianPackages({ step: "wrk", packages: ["wrk"], alternative: "set JUDE_WRK_BIN" });
  }
  return binary;
}

/** A Lua long-bracket literal that no JSON body can close early. */
function luaString(text: string): string {
  return `[==[${text}]==]`;
}

/** Writes the wrk script for calls of `perCall` texts each, rotating through `texts`. */
export function writeWrkScript(path: string, texts: readonly string[], perCall: number): void {
  const bodies = texts.map((_, index) =>
    JSON.stringify({
      input:
        perCall === 1
          ? texts[index]
          : Array.from({ length: perCall }, (_, k) => texts[(index + k) % texts.length]),
    }),
  );
  writeFileSync(
    path,
    `local bodies = { ${bodies.map(luaString).join(",\n")} }
local headers = { ["Content-Type"] = "application/json" }
local cursor = 0
request = function()
  cursor = cursor % #bodies + 1
  return wrk.format("POST", "/v1/embeddings", headers, bodies[cursor])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"calls":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"socket_errors":%d,"non_2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`,
  );
}

/** One wrk run's figures. */
export interface WrkResult {
  calls_per_s: number;
  p50_ms: number;
  p95_ms: number;
  errors: number;
}

/** Runs wrk (one thread: the machine's cores belong to the server) against `url`. */
export async function runWrk(
  binary: string,
  options: { url: string; script: string; connections: number; durationMs: number },
): Promise<WrkResult> {
  const { stdout } = await run(
    binary,
    [
      "-t1",
      `-c${options.connections}`,
      `-d${Math.round(options.durationMs / 1000)}s`,
      "--timeout=30s",
      "-s",
      options.script,
      options.url,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const line = stdout.split("\n").find((candidate) => candidate.startsWith('{"calls"'));
  if (line === undefined) throw new Error(`wrk printed no figures:\n${stdout}`);
  const figures = JSON.parse(line) as Record<string, number>;
  return {
    calls_per_s: figures.calls! / (figures.duration_us! / 1e6),
    p50_ms: figures.p50_us! / 1000,
    p95_ms: figures.p95_us! / 1000,
    errors: figures.socket_errors! + figures.non_2xx!,
  };
}
