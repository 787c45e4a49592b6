/**
 * The worker's consumer lag is the backlog the group has not committed, also after a rejoin. A worker
 * stuck on a batch (its store is down: the batch is retried, never committed) has fetched its events;
 * the Kafka client's own figure counts from the fetch position once the group rebalances, so it read 0
 * for the partition it kept while nothing was done, and the operator's CaughtUp gate (lag 0) could pass on a stuck worker.
 * Real Kafka, a private redis-server (killed and restarted), the test embedding server.
 */
import { Consumer } from "@platformatic/kafka";
import { expect, it } from "vitest";
import { bootstrapBrokers, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { jobEvent, startJobWorker, useOwnedRedisAndEmbedding } from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "lag-v1";
const deps = useOwnedRedisAndEmbedding(version);

it.each([
  ["a group that never committed (counted from the log's start)", 0],
  ["a group with commits (counted from the committed offset)", 4],
])(
  "reports a stuck worker's uncommitted backlog as lag after the group rebalances: %s",
  async (_, before) => {
    const topic = uniqueTopic("nl-lag");
    const { app, config, stop } = await startJobWorker(deps.embedding, {
      topic,
      partitions: 2,
      storeUrl: deps.redis.url,
    });
    const joiner = new Consumer({
      clientId: "jude-test-lag-joiner",
      groupId: config.source.kafka.consumerGroup,
      bootstrapBrokers: bootstrapBrokers(),
      autocommit: false,
    });
    // A rejoin of its own that fails as it closes (the group rebalancing) emits 'error' on it: with no
    // listener, an uncaught exception after the test. What the test checks is the worker's lag.
    joiner.on("error", () => undefined);
    /** A lag figure measured after now. */
    const lagNow = async (): Promise<number> => {
      const sinceMs = Date.now();
      await waitFor("a lag check", async () => (app.worker.lagCheckedAtMs ?? 0) > sinceMs, {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      return app.worker.lag.total;
    };
    const events = (from: number, count: number) =>
      Array.from({ length: count }, (_, offset) => ({
        ...jobEvent(`j${from + offset}`, 1000 + from + offset, { title: `Engineer ${offset}`, skills: [] }),
        partition: offset % 2,
      }));
    try {
      if (before > 0) {
        await produceEvents(topic, events(0, before));
        await waitFor(
          "the first events committed",
          async () => (await lagNow()) === 0 && app.worker.totals.batches > 0,
          {
            timeoutMs: 60_000,
            intervalMs: 200,
          },
        );
      }
      const batches = app.worker.totals.batches;
      await deps.redis.kill();
      await produceEvents(topic, events(before, 20));
      // Fetched (the batch is being retried on the store), nothing more committed.
      await waitFor("the batch stuck on the store", async () => (await lagNow()) === 20, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });

      // A second member joins: the partitions are shared out again, this worker keeps one of them (10
      // events it fetched, none committed) and the position it had fetched up to.
      const stream = await joiner.consume({ topics: [topic], autocommit: false });
      await waitFor("the rebalance done", async () => (joiner.assignments?.length ?? 0) > 0, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      expect(await lagNow()).toBe(10);
      expect(app.worker.totals.batches).toBe(batches);
      await stream.close();
      await joiner.close(true);

      await deps.redis.restart();
      await waitFor(
        "the backlog committed",
        async () => (await lagNow()) === 0 && app.worker.totals.batches > batches,
        {
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
    } finally {
      await joiner.close(true).catch(() => undefined);
      await stop();
    }
  },
);
