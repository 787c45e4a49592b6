/**
 * Memory under overload (issue 16): `jude serve` in its own process, `--max-concurrent-requests 64`,
 * flooded by another process with 20,000 `tei.v1.Embed` calls of ~128-token texts, 2,000 in flight.
 * Reports the server's RSS before, its peak (the kernel's VmHWM, so no sample can miss it), the
 * answers by status code, and whether the server is healthy and embeds afterwards.
 *
 * `npm run bench -- serving-flood [--calls N] [--concurrency N] [--connections N] [--node-flags="--flag …"]
 * [-- <extra jude serve flags>]`; the last line is one JSON object. Needs JUDE_MODEL_DIR.
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { processMemory, runNode, startServe } from "./serving-process.ts";
import { machineInfo } from "./stats.ts";

const HEAP = "jude_serving_nodejs_heap_size_total_bytes";
// ~128 tokens (14 per sentence, 9 sentences, plus [CLS] and [SEP]).
const LONG_TEXT = "Senior platform engineer with Kubernetes, Kafka and Redis experience. ".repeat(9).trim();

/** Settings of one flood. */
export interface FloodSettings {
  modelDir: string;
  calls: number;
  concurrency: number;
  connections: number;
  maxConcurrentRequests: number;
  /** Node flags of the server process (e.g. V8 heap settings). */
  nodeFlags: string[];
  /** Extra `jude serve` flags (A/B of server settings). */
  serveFlags: string[];
}

/** What one flood measured. */
export interface FloodResult {
  rss_before_mb: number;
  rss_peak_mb: number;
  rss_growth_mb: number;
  rss_after_mb: number;
  /** V8's heap (allocated, not only used) right after the flood: the JavaScript share of the growth. */
  heap_total_after_mb: number;
  codes: Record<string, number>;
  wall_ms: number;
  healthy_after: boolean;
}

function metricValue(exposition: string, name: string): number | undefined {
  const line = exposition.split("\n").find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

async function floodClient(address: string, settings: FloodSettings, calls = settings.calls) {
  const child = runNode([
    "bench/serving-flood-client.ts",
    `--address=${address}`,
    `--text=${LONG_TEXT}`,
    `--calls=${calls}`,
    `--concurrency=${Math.min(settings.concurrency, calls)}`,
    `--connections=${settings.connections}`,
  ]);
  let last = "";
  for await (const line of createInterface({ input: child.stdout! })) last = line;
  return JSON.parse(last) as { codes: Record<string, number>; wall_ms: number };
}

/** Runs one flood against a fresh `jude serve`. */
export async function runFlood(settings: FloodSettings): Promise<FloodResult> {
  const serve = await startServe({
    modelDir: settings.modelDir,
    nodeFlags: settings.nodeFlags,
    serveFlags: [`--max-concurrent-requests=${settings.maxConcurrentRequests}`, ...settings.serveFlags],
  });
  const pid = serve.child.pid!;
  try {
    const before = await processMemory(pid);
    const outcome = await floodClient(`127.0.0.1:${serve.grpc}`, settings);
    const after = await processMemory(pid);
    const heapAfter = metricValue(await (await fetch(`http://127.0.0.1:${serve.http}/metrics`)).text(), HEAP);
    const health = await fetch(`http://127.0.0.1:${serve.http}/health`);
    const probe = await floodClient(`127.0.0.1:${serve.grpc}`, { ...settings, connections: 1 }, 1);
    const mb = (kb: number) => Math.round(kb / 1024);
    return {
      rss_before_mb: mb(before.rssKb),
      rss_peak_mb: mb(after.hwmKb),
      rss_growth_mb: mb(after.hwmKb - before.rssKb),
      rss_after_mb: mb(after.rssKb),
      heap_total_after_mb: Math.round((heapAfter ?? 0) / 1048576),
      codes: outcome.codes,
      wall_ms: outcome.wall_ms,
      healthy_after: health.status === 200 && probe.codes["0"] === 1,
    };
  } finally {
    await serve.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false }, // accepted for symmetry: the output is JSON anyway
      calls: { type: "string", default: "20000" },
      concurrency: { type: "string", default: "2000" },
      connections: { type: "string", default: "4" },
      "node-flags": { type: "string" },
    },
  });
  const modelDir = process.env.JUDE_MODEL_DIR;
  if (!modelDir) throw new Error("JUDE_MODEL_DIR must name the model directory");
  const result = await runFlood({
    modelDir,
    calls: Number(values.calls),
    concurrency: Number(values.concurrency),
    connections: Number(values.connections),
    maxConcurrentRequests: 64,
    nodeFlags: (values["node-flags"] ?? "").split(" ").filter(Boolean),
    serveFlags: positionals,
  });
  console.log(JSON.stringify({ bench: "serving-flood", ...result, machine: machineInfo() }));
}
