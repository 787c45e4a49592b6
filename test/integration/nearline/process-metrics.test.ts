/**
 * A nearline worker's /metrics carries the process metrics (memory, heap, event-loop lag) the embedding
 * server and the operator export too, with the worker's prefix: a worker that leaks or blocks its event
 * loop must be visible to the same dashboards and alerts as the others.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { uniqueTopic } from "../../support/kafka.ts";
import { startJobWorker } from "../../support/nearline.ts";

const version = "process-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
});

afterAll(async () => {
  await embedding?.server.close();
});

it("exports process metrics with the jude_pipeline_ prefix on /metrics", async () => {
  const { app, stop } = await startJobWorker(embedding, { topic: uniqueTopic("nl-process-metrics") });
  try {
    const text = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text)?.[1]);
    expect(value("jude_pipeline_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(value("jude_pipeline_nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(text).toMatch(/^jude_pipeline_nodejs_eventloop_lag_p99_seconds /m);
    // The worker's own metrics are still there beside them.
    expect(text).toMatch(/^# TYPE jude_pipeline_consumed_total counter$/m);
  } finally {
    await stop();
  }
});
