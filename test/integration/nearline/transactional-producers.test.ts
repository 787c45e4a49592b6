/**
 * A changelog written by a transactional producer (Debezium with exactly-once source, Kafka Streams,
 * Flink): records of aborted transactions are never embedded (read_committed), also when the abort
 * marker comes in a later fetch response than the transaction's records (a transaction across a log
 * segment roll: a fetch reads from one segment), and the transaction markers, which take offsets of
 * their own but carry no record, do not leave the worker one record behind for good. Real Kafka (the
 * testbed's broker), the testbed's Redis, the test embedding server.
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

/**
 * Aborts a transaction of `aborted` records of `recordKiB` each, then commits one of `committed`,
 * with a worker running; waits until the group's offset is past the commit marker with no lag
 * reported (the topic is quiet now: with no freshness samples, only a lag of 0 opens the CaughtUp
 * gate), and returns which ids the store holds live and the worker's totals.
 */
async function consumeAbortThenCommit(
  topic: string,
  shape: { aborted: number; recordKiB: number; committed: string[] },
): Promise<{ live: Record<string, boolean>; consumed: number; embedded: number }> {
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
  const padding = "x".repeat(shape.recordKiB * 1024);
  let time = 1000;
  const message = (id: string) => ({
    topic,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ jobId: id, updatedAt: time++, title: `Title of ${id}`, padding })),
  });
  const abortedIds = Array.from({ length: shape.aborted }, (_, index) => `aborted-${index}`);
  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    const aborted = await producer.beginTransaction();
    for (const id of abortedIds) await aborted.send({ messages: [message(id)] });
    await aborted.abort();
    const committed = await producer.beginTransaction();
    for (const id of shape.committed) await committed.send({ messages: [message(id)] });
    await committed.commit();
    // The aborted records, the abort marker, the committed records, the commit marker. A commit
    // returns when the coordinator decided it; the marker reaches the partition a moment later.
    const end = shape.aborted + 1 + shape.committed.length + 1;
    await waitFor("the commit marker written", async () => (await recordCount(topic)) === end);

    await waitFor(
      "no lag reported and the group's offset past the last marker",
      async () => app.worker.lag.total === 0 && (await committedOffsets(group, topic)) === end,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const store = await openStore(redis, { name: config.sinks.store.name });
    const ids = [...abortedIds, ...shape.committed];
    const metas = await new StoreWriter(store).readMeta(
      version,
      ids.map((id) => ({ entity: "job", id })),
    );
    return {
      live: Object.fromEntries(ids.map((id, index) => [id, metas[index]?.live ?? false])),
      consumed: app.worker.totals.consumed,
      embedded: app.worker.totals.embedded,
    };
  } finally {
    await producer.close();
    await app.stop();
    closeConnection();
    await redis.quit();
  }
}

it("embeds only committed transactions and reports no lag once it read past the markers", async () => {
  const topic = uniqueTopic("nl-txn");
  await createTopics([topic], 1);
  // offsets 0-1 aborted records, 2 the abort marker, 3 the record, 4 the commit marker
  expect(
    await consumeAbortThenCommit(topic, { aborted: 2, recordKiB: 0, committed: ["committed-1"] }),
  ).toEqual({
    live: { "aborted-0": false, "aborted-1": false, "committed-1": true },
    consumed: 1,
    embedded: 1,
  });
});

it("embeds no record of an aborted transaction across a log segment roll, and every committed one", async () => {
  const topic = uniqueTopic("nl-txn-segments");
  // The smallest segment the broker allows: the 1.8 MiB aborted transaction below spans two segments,
  // and the abort marker is not in the fetch response that returns the first segment's records; the
  // committed transaction after it crosses a segment roll as well.
  await createTopics([topic], 1, { "segment.bytes": String(1024 * 1024) });
  const committed = Array.from({ length: 8 }, (_, index) => `committed-${index}`);
  const result = await consumeAbortThenCommit(topic, { aborted: 12, recordKiB: 150, committed });
  expect(
    Object.entries(result.live)
      .filter(([, live]) => live)
      .map(([id]) => id),
  ).toEqual(committed);
  expect(result).toMatchObject({ consumed: 8, embedded: 8 });
});
