/**
 * A call cancelled by its client while its inputs wait in the queue costs no inference: the inputs
 * are dropped before their batch is formed.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
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
