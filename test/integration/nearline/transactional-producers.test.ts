/**
 * A changelog written by a transactional producer (Debezium with exactly-once source, Kafka Streams,
 * Flink): records of aborted transactions are never embedded (read_committed), also when the abort
 * marker comes in a later fetch response than the transaction's records (a transaction across a log
 * segment roll: a fetch reads from one segment) and when one producer aborted several transactions
 * within one fetch, and the transaction markers, which take offsets of their own but carry no record,
 * do not leave the worker one record behind for good. Real Kafka (the testbed's broker), the
 * testbed's Redis, the test embedding server.
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

/** One transaction of the changelog: its records' ids, and whether it is committed or aborted. */
interface Transaction {
  ids: string[];
  outcome: "commit" | "abort";
}

/**
 * Writes `transactions` with one transactional producer (records of `recordKiB` padding each), then
 * runs a worker from the topic's start: it reads them all at once, as a worker catching up or
 * restarted does. Waits until the group's offset is past the last marker with no lag reported (the
 * topic is quiet now: with no freshness samples, only a lag of 0 opens the CaughtUp gate), and
 * returns the ids the store holds live and the worker's totals.
 */
async function consumeTransactions(
  topic: string,
  transactions: readonly Transaction[],
  recordKiB = 0,
): Promise<{ live: string[]; consumed: number; embedded: number }> {
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
  const padding = "x".repeat(recordKiB * 1024);
  let time = 1000;
  const message = (id: string) => ({
    topic,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ jobId: id, updatedAt: time++, title: `Title of ${id}`, padding })),
  });
  try {
    for (const { ids, outcome } of transactions) {
      const transaction = await producer.beginTransaction();
      // One record per request: a request over 1 MiB is refused.
      for (const id of ids) await transaction.send({ messages: [message(id)] });
      await (outcome === "commit" ? transaction.commit() : transaction.abort());
    }
  } finally {
    await producer.close();
  }
  // Each transaction's records and its marker. A commit or abort returns when the coordinator decided
  // it; the marker reaches the partition a moment later.
  const end = transactions.reduce((sum, { ids }) => sum + ids.length + 1, 0);
  await waitFor("the last marker written", async () => (await recordCount(topic)) === end);

  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    await waitFor(
      "no lag reported and the group's offset past the last marker",
      async () => app.worker.lag.total === 0 && (await committedOffsets(group, topic)) === end,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const store = await openStore(redis, { name: config.sinks.store.name });
    const ids = transactions.flatMap((transaction) => transaction.ids);
    const metas = await new StoreWriter(store).readMeta(
      version,
      ids.map((id) => ({ entity: "job", id })),
    );
    return {
      live: ids.filter((_, index) => metas[index]?.live ?? false),
      consumed: app.worker.totals.consumed,
      embedded: app.worker.totals.embedded,
    };
  } finally {
    await app.stop();
    closeConnection();
    await redis.quit();
  }
}

const ids = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}`);

it("embeds only committed transactions and reports no lag once it read past the markers", async () => {
  const topic = uniqueTopic("nl-txn");
  await createTopics([topic], 1);
  // offsets 0-1 aborted records, 2 the abort marker, 3 the record, 4 the commit marker
  const result = await consumeTransactions(topic, [
    { ids: ["aborted-0", "aborted-1"], outcome: "abort" },
    { ids: ["committed-0"], outcome: "commit" },
  ]);
  expect(result).toEqual({ live: ["committed-0"], consumed: 1, embedded: 1 });
});

it("embeds no record of any aborted transaction when one producer aborted several in one fetch", async () => {
  const topic = uniqueTopic("nl-txn-twice");
  await createTopics([topic], 1);
  const result = await consumeTransactions(topic, [
    { ids: ["aborted-0", "aborted-1"], outcome: "abort" },
    { ids: ["committed-0"], outcome: "commit" },
    { ids: ["aborted-2"], outcome: "abort" },
    { ids: ["committed-1"], outcome: "commit" },
  ]);
  expect(result).toEqual({ live: ["committed-0", "committed-1"], consumed: 2, embedded: 2 });
});

it("embeds no record of an aborted transaction across a log segment roll, and every committed one", async () => {
  const topic = uniqueTopic("nl-txn-segments");
  // The smallest segment the broker allows: the 1.8 MiB aborted transaction below spans two segments,
  // and the abort marker is not in the fetch response that returns the first segment's records; the
  // committed transaction after it crosses a segment roll as well.
  await createTopics([topic], 1, { "segment.bytes": String(1024 * 1024) });
  const committed = ids("committed", 8);
  const result = await consumeTransactions(
    topic,
    [
      { ids: ids("aborted", 12), outcome: "abort" },
      { ids: committed, outcome: "commit" },
    ],
    150,
  );
  expect(result).toEqual({ live: committed, consumed: 8, embedded: 8 });
});
