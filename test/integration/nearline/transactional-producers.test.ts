/**
 * A changelog written by a transactional producer (Debezium with exactly-once source, Kafka Streams,
 * Flink): records of aborted transactions are never embedded (read_committed), and the transaction
 * markers, which take offsets of their own but carry no record, do not leave the worker one record
 * behind for good. Real Kafka (the testbed's broker), the testbed's Redis, the test embedding server.
 */
import { Producer } from "@platformatic/kafka";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectRedis, openStore, StoreWriter } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  bootstrapBrokers,
  committedOffsets,
  createTopics,
  recordCount,
  uniqueTopic,
} from "../../support/kafka.ts";
import { nearlineConfig, startInProcessNearline } from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "txn-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
});

afterAll(async () => {
  await embedding?.server.close();
});

it("embeds only committed transactions and reports no lag once it read past the markers", async () => {
  const topic = uniqueTopic("nl-txn");
  await createTopics([topic], 1);
  const config = nearlineConfig({
    topic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  const group = config.source.kafka.consumerGroup;
  const producer = new Producer({
    clientId: "jude-test-txn",
    bootstrapBrokers: bootstrapBrokers(),
    acks: -1,
    idempotent: true,
    transactionalId: uniqueTopic("txn"),
  });
  const message = (id: string, time: number) => ({
    topic,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ jobId: id, updatedAt: time, title: `Title of ${id}` })),
  });
  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    const aborted = await producer.beginTransaction();
    await aborted.send({ messages: [message("aborted-1", 1000), message("aborted-2", 1001)] });
    await aborted.abort();
    const committed = await producer.beginTransaction();
    await committed.send({ messages: [message("committed-1", 1002)] });
    await committed.commit();
    // offsets 0-1 aborted records, 2 the abort marker, 3 the record, 4 the commit marker
    expect(await recordCount(topic)).toBe(5);

    await waitFor("the committed record embedded", async () => app.worker.totals.embedded === 1, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // The topic is quiet now: with no freshness samples, only a lag of 0 opens the CaughtUp gate.
    await waitFor(
      "no lag reported and the group's offset past the last marker",
      async () => app.worker.lag.total === 0 && (await committedOffsets(group, topic)) === 5,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const store = await openStore(redis, { name: config.sinks.store.name });
    const metas = await new StoreWriter(store).readMeta(
      version,
      ["aborted-1", "aborted-2", "committed-1"].map((id) => ({ entity: "job", id })),
    );
    expect(metas.map((meta) => meta?.live ?? false)).toEqual([false, false, true]);
    expect(app.worker.totals.consumed).toBe(1);
  } finally {
    await producer.close();
    await app.stop();
    closeConnection();
    await redis.quit();
  }
});
