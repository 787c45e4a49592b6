/**
 * The worker's counters count what happened, not how often a batch was attempted. A batch that meets
 * a Redis outage at change detection is processed again from its first step once Redis is back; the
 * event it dead-letters goes to the dead-letter topic once (the attempt that succeeded), and
 * jude_pipeline_dead_lettered_total must say 1, not one per attempt: the JudeNearlineDeadLetters alert
 * reads its rate, and a Redis outage is not a producer sending bad events.
 */
import { expect, it } from "vitest";
import { produceEvents, readTopic, uniqueTopic } from "../../support/kafka.ts";
import { jobEvent, startJobWorker, useOwnedRedisAndEmbedding } from "../../support/nearline.ts";
import { fillRedis } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import { connectRedis } from "../../../store/index.ts";

const version = "metrics-v1";
const deps = useOwnedRedisAndEmbedding(version);

it("counts a dead-lettered event once when its batch is retried after a Redis outage", async () => {
  const topic = uniqueTopic("nl-dlq-retry");
  const deadLetterTopic = uniqueTopic("nl-dlq-retry-dead");
  const { app, metric, stop } = await startJobWorker(deps.embedding, {
    topic,
    deadLetterTopic,
    storeUrl: deps.redis.url,
  });
  try {
    await deps.redis.kill();
    await produceEvents(topic, [
      { key: "broken", value: "{not json" },
      ...[1, 2, 3].map((index) =>
        jobEvent(`j${index}`, 1000 + index, { title: `Engineer ${index}`, company: "Acme", skills: [] }),
      ),
    ]);
    // The batch fails at change detection and is attempted again, several times.
    await waitFor(
      "three retries of the batch on the store",
      async () => (await metric("jude_pipeline_retries_total", 'dependency="store"')) >= 3,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await deps.redis.restart();
    await waitFor("the batch to be committed", () => app.worker.totals.batches >= 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });

    expect(app.worker.totals.deadLettered).toBe(1);
    expect((await readTopic(deadLetterTopic, 1)).length).toBeGreaterThanOrEqual(1);
    expect(await metric("jude_pipeline_dead_lettered_total", 'code="INVALID_JSON"')).toBe(1);
    expect(await metric("jude_pipeline_consumed_total")).toBe(4);
  } finally {
    await stop();
  }
});

it("counts the store retries of a batch waiting at its writes (Redis full)", async () => {
  const topic = uniqueTopic("nl-store-retry");
  const { app, metric, stop } = await startJobWorker(deps.embedding, { topic, storeUrl: deps.redis.url });
  const admin = connectRedis({ url: deps.redis.url });
  try {
    // Full: change detection still reads, the writes are refused (OOM) and retried by the writer.
    await fillRedis(admin);
    await produceEvents(topic, [
      jobEvent("full-1", 1001, { title: "Engineer", company: "Acme", skills: [] }),
    ]);
    await waitFor("the writer to retry", async () => (await metric("jude_store_write_retries_total")) >= 3, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // What README and the freshness alert point to for "which dependency it waits on". Before: 0.
    expect(await metric("jude_pipeline_retries_total", 'dependency="store"')).toBeGreaterThanOrEqual(3);
    expect(app.worker.totals.batches).toBe(0);
    await admin.config("SET", "maxmemory", "0");
    await waitFor("the batch to be committed", () => app.worker.totals.batches >= 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
  } finally {
    await admin.config("SET", "maxmemory", "0").catch(() => undefined);
    admin.disconnect();
    await stop();
  }
});
