/**
 * A call cancelled by its client while its inputs wait in the queue costs no inference: the inputs
 * are dropped before their batch is formed. A call whose client leaves while its inputs are being
 * computed is counted as cancelled, not as a success nobody received.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { metricValue, startServer } from "./helpers.ts";

const longText = "Principal engineer for search relevance, ranking and recommendations at scale. ".repeat(20);
let server: EmbeddingServer;
let client: EmbeddingClient;

beforeAll(async () => {
  // One input per batch: the first call's eight inputs keep the backend busy for eight batches.
  server = await startServer({ batching: { maxBatchSize: 1, maxQueueDelayMs: 0 } });
  client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
});
afterAll(async () => {
  client.close();
  await server.close();
});

async function metric(name: string): Promise<number | undefined> {
  return metricValue(await server.metrics.registry.metrics(), name);
}

it("drops the queued inputs of cancelled calls before inference", async () => {
  const kept = client.embed(
    Array.from({ length: 8 }, () => longText),
    { truncate: true },
  );
  const controllers = Array.from({ length: 6 }, () => new AbortController());
  const cancelled = controllers.map((controller) =>
    client.embed([longText], { truncate: true, signal: controller.signal }).catch((error: unknown) => error),
  );
  // The first call holds its eight permits until all eight inputs are done, so 14 in flight means every
  // call has arrived and the six single-input calls are still queued behind it.
  while ((await metric("jude_serving_in_flight")) !== 14) await new Promise(setImmediate);
  for (const controller of controllers) controller.abort();

  expect((await kept).vectors).toHaveLength(8);
  for (const outcome of await Promise.all(cancelled))
    expect(outcome).toMatchObject({ statusName: "CANCELLED" });
  while ((await metric("jude_serving_in_flight")) !== 0) await new Promise(setImmediate);
  expect(await metric("jude_serving_dropped_total")).toBe(6);
  expect(await metric("jude_serving_batch_size_count")).toBe(8);
});

describe("a call whose client leaves while its batch computes", () => {
  // One batch of 16 texts of 256 tokens (no CPU cap) runs long enough to leave in the middle of it.
  const texts = Array.from({ length: 16 }, (_, index) => `${index} ${longText}`);
  let busy: EmbeddingServer;

  beforeAll(async () => {
    busy = await startServer({
      batching: { maxBatchSize: 16 },
      backend: { inferenceWorkers: 1, cpuMaxBatchTokens: 0 },
    });
  });
  afterAll(async () => {
    await busy.close();
  });

  const exposition = () => busy.metrics.registry.metrics();
  /** Resolves once all 16 inputs are in the running batch: none queued, all 16 permits held. */
  async function computing(): Promise<void> {
    for (;;) {
      const metrics = await exposition();
      const inFlight = metricValue(metrics, "jude_serving_in_flight");
      if (inFlight === 16 && metricValue(metrics, "jude_serving_queue_size") === 0) return;
      await new Promise(setImmediate);
    }
  }
  async function settled(): Promise<string> {
    while (metricValue(await exposition(), "jude_serving_in_flight") !== 0) await new Promise(setImmediate);
    return exposition();
  }

  it("is counted CANCELLED on gRPC, though its batch completed", async () => {
    const grpcClient = new EmbeddingClient({ address: `127.0.0.1:${busy.grpcPort}` });
    const controller = new AbortController();
    const call = grpcClient
      .embed(texts, { truncate: true, signal: controller.signal })
      .catch((error: unknown) => error);
    await computing();
    controller.abort();
    expect(await call).toMatchObject({ statusName: "CANCELLED" });
    const metrics = await settled();
    grpcClient.close();
    expect(metricValue(metrics, "jude_serving_dropped_total")).toBe(0); // every input was computed
    expect(metrics).toContain(
      'jude_serving_requests_total{transport="grpc",method="Embed",code="CANCELLED"} 1',
    );
    expect(metrics).not.toContain('jude_serving_requests_total{transport="grpc",method="Embed",code="OK"}');
  });

  it("is counted CANCELLED on HTTP when the client closes the connection", async () => {
    const controller = new AbortController();
    const call = fetch(`http://127.0.0.1:${busy.httpPort}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input: texts, truncate: true }),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    await computing();
    controller.abort();
    expect(await call).toMatchObject({ name: "AbortError" });
    const metrics = await settled();
    expect(metricValue(metrics, "jude_serving_dropped_total")).toBe(0);
    expect(metrics).toContain(
      'jude_serving_requests_total{transport="http",method="embeddings",code="CANCELLED"} 1',
    );
    expect(metrics).not.toContain(
      'jude_serving_requests_total{transport="http",method="embeddings",code="OK"}',
    );
  });
});
