/**
 * Inference worker threads die while the real server and model serve: one mid-batch with 64 calls in
 * flight (a request its code cannot handle throws there, uncaught, and the thread exits), then the
 * other. The server reports NOT_SERVING and fails liveness at the first death, so Kubernetes restarts
 * it; until then the surviving worker answers, and with none left calls are refused UNAVAILABLE
 * (retryable) instead of failing INTERNAL. Its /metrics counts the workers left meanwhile.
 */
import { status } from "@grpc/grpc-js";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { startServer } from "./helpers.ts";

const text = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(6);
const BATCH = 4;

// The server's inference workers, seen as the server posts them batches (the test reaches them so).
const batchesPosted = new Map<Worker, number>();
const postMessage = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
  if ((args[0] as { type?: string }).type === "embed")
    batchesPosted.set(this, (batchesPosted.get(this) ?? 0) + 1);
  return postMessage.apply(this, args);
};

let server: EmbeddingServer;
let client: EmbeddingClient;

beforeAll(async () => {
  server = await startServer({
    backend: { executionProvider: "cpu", inferenceWorkers: 2, intraOpThreads: 1 },
    batching: { maxBatchSize: BATCH },
  });
  client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
});
afterAll(async () => {
  Worker.prototype.postMessage = postMessage;
  client?.close();
  await server?.close();
});

/** "OK", or the gRPC code and JUDE error code a call failed with. */
const outcome = (call: Promise<unknown>): Promise<string> =>
  call.then(
    () => "OK",
    (error: unknown) =>
      error instanceof EmbeddingClientError ? `${status[error.code]} ${error.errorCode}` : String(error),
  );

/** Makes `worker` throw, uncaught, on a request it cannot handle; resolves when the thread has exited. */
async function crash(worker: Worker): Promise<void> {
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  postMessage.call(worker, { type: "embed", id: -1 });
  await exited;
}

/** jude_serving_inference_workers as the server's /metrics shows it, e.g. "live=1 dead=1". */
async function inferenceWorkers(): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const value = (state: string) =>
    new RegExp(`^jude_serving_inference_workers\\{state="${state}"\\} (\\d+)$`, "m").exec(text)?.[1];
  return `live=${value("live")} dead=${value("dead")}`;
}

const tally = (outcomes: string[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const value of outcomes) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
};

it("answers the calls in flight when a worker dies mid-batch, fails liveness, and keeps serving on the other", async () => {
  expect(await inferenceWorkers()).toBe("live=2 dead=0");
  const calls = Array.from({ length: 64 }, (_, index) => outcome(client.embed([`${index} ${text}`])));
  while ([...batchesPosted.values()].reduce((sum, count) => sum + count, 0) < 3)
    await new Promise((resolve) => setTimeout(resolve, 5));
  await crash([...batchesPosted.keys()][0]!);

  // Only the calls of the batch the dead worker was running fail; the queued ones go to the other.
  const counts = tally(await Promise.all(calls));
  expect(counts.OK! + (counts["INTERNAL JUDE_SERVING_BACKEND_FAILED"] ?? 0)).toBe(64);
  expect(counts["INTERNAL JUDE_SERVING_BACKEND_FAILED"] ?? 0).toBeLessThanOrEqual(BATCH);

  expect(server.health.get("")).toBe("NOT_SERVING");
  const healthz = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
  expect([healthz.status, await healthz.text()]).toEqual([503, "an inference worker failed\n"]);
  expect(await inferenceWorkers()).toBe("live=1 dead=1");

  const after = await Promise.all(
    Array.from({ length: 8 }, (_, index) => outcome(client.embed([`after ${index}`]))),
  );
  expect(after).toEqual(Array(8).fill("OK"));
});

it("refuses calls UNAVAILABLE, retryable, once no worker is left, the ones queued when it died included", async () => {
  const survivor = [...batchesPosted.keys()][1];
  expect(survivor).toBeDefined();
  const posted = batchesPosted.get(survivor!)!;
  const calls = Array.from({ length: 64 }, (_, index) => outcome(client.embed([`queued ${index} ${text}`])));
  while (batchesPosted.get(survivor!)! < posted + 2) await new Promise((resolve) => setTimeout(resolve, 5));
  await crash(survivor!);
  // Only the batch the last worker was running fails INTERNAL; the calls queued behind it never ran
  // and are refused as later calls are.
  const counts = tally(await Promise.all(calls));
  expect(
    (counts.OK ?? 0) +
      (counts["INTERNAL JUDE_SERVING_BACKEND_FAILED"] ?? 0) +
      (counts["UNAVAILABLE JUDE_SERVING_NOT_READY"] ?? 0),
  ).toBe(64);
  expect(counts["INTERNAL JUDE_SERVING_BACKEND_FAILED"] ?? 0).toBeLessThanOrEqual(BATCH);
  expect(counts["UNAVAILABLE JUDE_SERVING_NOT_READY"]).toBeGreaterThan(0);

  const after = await Promise.all(
    Array.from({ length: 4 }, (_, index) => outcome(client.embed([`late ${index}`]))),
  );
  expect(after).toEqual(Array(4).fill("UNAVAILABLE JUDE_SERVING_NOT_READY"));
  const healthz = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
  expect(healthz.status).toBe(503);
  expect(await inferenceWorkers()).toBe("live=0 dead=2");
});
