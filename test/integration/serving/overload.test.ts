/**
 * Overload: 5,000 concurrent calls against a server with 4 permits. The excess is refused with
 * RESOURCE_EXHAUSTED instead of queued, so in-flight work and memory stay bounded, and the server
 * serves normally afterwards. Runs `jude serve` as a child process so its memory is its own.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const CALLS = 5_000;
const PERMITS = 4;
// ~4 KiB per call: if the server held every call, their texts alone would add ~20 MiB.
const text = "Senior platform engineer with Kubernetes, Kafka and Redis experience. ".repeat(60);

let serve: ServeProcess;
let client: EmbeddingClient;

beforeAll(async () => {
  serve = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    `--max-concurrent-requests=${PERMITS}`,
    `--max-inputs-per-call=${PERMITS}`,
    `--max-batch-size=${PERMITS}`,
  ]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}` });
});
afterAll(async () => {
  client?.close();
  serve?.child.kill("SIGTERM");
  await serve?.exited;
});

async function scrape(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
}

it("refuses the excess of 5,000 concurrent calls with RESOURCE_EXHAUSTED and keeps memory bounded", async () => {
  const heapBefore = metricValue(await scrape(), "jude_serving_nodejs_heap_size_used_bytes") ?? 0;
  // Sample the server's gauges while the burst runs: every 250 answers, not in a busy loop that
  // would compete with the burst for the server's event loop.
  const samples = { inFlight: 0, queue: 0, heap: heapBefore };
  const sampling: Array<Promise<void>> = [];
  const sample = (): void => {
    sampling.push(
      scrape().then((metrics) => {
        samples.inFlight = Math.max(samples.inFlight, metricValue(metrics, "jude_serving_in_flight") ?? 0);
        samples.queue = Math.max(samples.queue, metricValue(metrics, "jude_serving_queue_size") ?? 0);
        samples.heap = Math.max(
          samples.heap,
          metricValue(metrics, "jude_serving_nodejs_heap_size_used_bytes") ?? 0,
        );
      }),
    );
  };
  let answered = 0;
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: CALLS }, async () => {
      const callStarted = performance.now();
      try {
        await client.embed([text], { truncate: true });
        return { ok: true as const, ms: performance.now() - callStarted };
      } catch (error) {
        return { ok: false as const, error, ms: performance.now() - callStarted };
      } finally {
        if (++answered % 250 === 0) sample();
      }
    }),
  );
  const burstMs = performance.now() - started;
  await Promise.all(sampling);

  const refused = outcomes.filter((outcome) => !outcome.ok);
  const served = outcomes.filter((outcome) => outcome.ok);
  for (const outcome of refused) {
    expect(outcome.error).toBeInstanceOf(EmbeddingClientError);
    expect(outcome.error).toMatchObject({
      statusName: "RESOURCE_EXHAUSTED",
      errorCode: "JUDE_SERVING_OVERLOADED",
      message: `overloaded: more than ${PERMITS} inputs in flight; retry with backoff or on another replica`,
      retryable: true,
    });
  }
  expect(refused.length).toBeGreaterThan(0);
  expect(served.length).toBeGreaterThan(0);
  expect(refused.length + served.length).toBe(CALLS);
  // Bounded: never more inputs admitted or queued than permits, whatever the offered load.
  expect(samples.inFlight).toBeLessThanOrEqual(PERMITS);
  expect(samples.queue).toBeLessThanOrEqual(PERMITS);
  // A sanity bound only: grpc-js holds every call that is on the wire, admitted or not.
  expect(samples.heap - heapBefore).toBeLessThan(256 * 1024 * 1024);
  expect(sampling.length).toBeGreaterThan(10);

  const millis = (outcomes: Array<{ ms: number }>, p: number): string => {
    const sorted = outcomes.map((outcome) => outcome.ms).sort((a, b) => a - b);
    return (sorted[Math.floor((sorted.length - 1) * p)] ?? 0).toFixed(1);
  };
  // Reported, not asserted: latencies depend on the machine and its load.
  process.stdout.write(
    `overload: ${CALLS} calls in ${Math.round(burstMs)} ms; served ${served.length}, refused ${refused.length}; ` +
      `refused p50 ${millis(refused, 0.5)} ms p95 ${millis(refused, 0.95)} ms; served p50 ${millis(served, 0.5)} ms; ` +
      `max in flight ${samples.inFlight}, max queue ${samples.queue}; ` +
      `heap ${(heapBefore / 2 ** 20).toFixed(0)} -> max ${(samples.heap / 2 ** 20).toFixed(0)} MiB\n`,
  );
});

it("serves a normal call after the overload", async () => {
  const answer = await client.embed(["Data engineer, Spark and Airflow"]);
  expect(answer.vectors[0]).toHaveLength(384);
  const metrics = await scrape();
  expect(metricValue(metrics, "jude_serving_in_flight")).toBe(0);
  expect(metrics).toMatch(
    /jude_serving_requests_total\{transport="grpc",method="Embed",code="RESOURCE_EXHAUSTED"\} [1-9]/,
  );
});
