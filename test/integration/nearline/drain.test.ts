/**
 * Drain (what SIGTERM runs): a batch in hand when the stop comes is finished, written and its offsets
 * committed before the worker leaves, so its successor starts after it instead of replaying it.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../../plumbing/logger.ts";
import { startNearline } from "../../../pipelines/nearline/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import type { EmbedCall } from "../../../pipelines/shared/embedding.ts";
import { connectRedis, openStore, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { committedOffsets, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { expectedFinalState, expectStoreMatches, jobEvent, jobWorkerConfig } from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "minilm-v1";
let embedding: TestEmbeddingServer;
let redis: RedisClient;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  await redis?.quit();
  await embedding?.server.close();
});

it("finishes, writes and commits the batch in hand when stopped mid-batch", async () => {
  const topic = uniqueTopic("nl-drain");
  const config = await jobWorkerConfig(embedding, { topic });
  const connection = connectEmbedding(config.embedding, { modelDigest: config.model.digest });
  // Holds the batch's inference until the stop has been requested, so the stop finds a batch in hand.
  const inference = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const gated: EmbedCall = async (texts, signal) => {
    inference.resolve();
    await release.promise;
    return connection.call(texts, signal);
  };
  const app = await startNearline(config, {
    logger: silentLogger(),
    embedCall: gated,
    isRetryableEmbedError: connection.isRetryable,
  });
  try {
    const events = Array.from({ length: 20 }, (_, index) =>
      jobEvent(`j${index}`, 1000 + index, { title: `Engineer ${index}`, company: "Acme", skills: [] }),
    );
    await produceEvents(topic, events);
    await inference.promise;
    expect(app.worker.totals.batches).toBe(0);
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(0);

    const stopped = app.stop();
    // The stop waits for the batch: nothing is committed while its inference is held.
    await waitFor("the worker to stop being ready", () => !app.worker.ready, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    release.resolve();
    await stopped;

    const consumed = app.worker.totals.consumed;
    expect(app.worker.totals.batches).toBeGreaterThanOrEqual(1);
    expect(consumed).toBeGreaterThan(0);
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(consumed);
    const store = await openStore(redis, { name: config.sinks.store.name });
    const writtenEvents = events.slice(0, consumed);
    await expectStoreMatches(store, version, expectedFinalState(writtenEvents, version));
  } finally {
    release.resolve();
    await app.stop();
    connection.close();
  }
});
