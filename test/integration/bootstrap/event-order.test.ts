/**
 * Bootstrap and nearline agree on a key's state when its events arrive out of event-time order: the
 * store's rule is "newer event time, then offset, wins", so nearline keeps a key's newest event even
 * when an older one (a late event, a delete stamped before the last update) comes later in the log.
 * A Kafka snapshot must pick the same event per key, or a version built by bootstrap holds other texts
 * (and other deletes) than the version nearline kept, and a promotion silently changes them. Both run
 * on the same changelog and are checked against the oracle the nearline tests use.
 */
import { expect, it } from "vitest";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, produceEvents, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  jobExtract,
  jobTemplate,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";
import { deleteKeysWithPrefix } from "../store/helpers.ts";
import {
  createBootstrapStore,
  runShardInProcess,
  shardConfig,
  shardDocument,
  useEmbeddingServer,
  VERSION,
} from "./helpers.ts";
import { MODEL_DIMENSIONS } from "./served-embed.ts";

const server = useEmbeddingServer();

it("writes each key's newest event by event time, as nearline keeps it, not its last record", async () => {
  const topic = uniqueTopic("bootstrap-event-order");
  await createTopics([topic], 1);
  const job = (title: string) => ({ title, company: "Acme", skills: [] });
  const events = [
    jobEvent("late", 200, job("Nurse")),
    jobEvent("late", 100, job("Pilot")), // a late event: older than what the key holds
    jobEvent("old-delete", 300, job("Chef")),
    { key: "old-delete", value: { jobId: "old-delete", updatedAt: 250, op: "d" } }, // older than the update
    jobEvent("recreated-too-early", 100, job("Cook")),
    { key: "recreated-too-early", value: { jobId: "recreated-too-early", updatedAt: 150, op: "d" } },
    jobEvent("recreated-too-early", 120, job("Baker")), // older than the delete: the key stays deleted
    jobEvent("plain", 100, job("Welder")),
  ];
  await produceEvents(topic, events);
  await expectBootstrapMatchesNearline(topic, events, expectedFinalState(events, VERSION));
});

it("keeps a key's last text when its newest event has none of the extracted fields, as nearline does", async () => {
  // Nearline dead-letters such an event (NO_FIELDS) and keeps the stored text; a snapshot that let it
  // replace the key's entry wrote nothing for the key, so the version lacked an entity nearline has.
  const topic = uniqueTopic("bootstrap-no-fields");
  await createTopics([topic], 1);
  const job = (title: string) => ({ title, company: "Acme", skills: [] });
  const fieldless = (id: string, time: number) => ({
    key: id,
    value: { jobId: id, updatedAt: time, note: "x" },
  });
  const kept = [
    jobEvent("emptied", 100, job("Nurse")),
    jobEvent("plain", 100, job("Welder")),
    jobEvent("deleted", 100, job("Cook")),
    { key: "deleted", value: { jobId: "deleted", updatedAt: 200, op: "d" } },
  ];
  const events = [...kept, fieldless("emptied", 200), fieldless("deleted", 300), fieldless("never", 100)];
  await produceEvents(topic, events);
  const expected = expectedFinalState(kept, VERSION);
  expected.set("never", null);
  expect(expected.get("emptied")).not.toBeNull();
  await expectBootstrapMatchesNearline(topic, events, expected);
});

/** Runs nearline and a one-shard bootstrap on `topic` and checks both stores hold `expected`. */
async function expectBootstrapMatchesNearline(
  topic: string,
  events: readonly TestEvent[],
  expected: Map<string, string | null>,
): Promise<void> {
  const nearline = nearlineConfig({
    topic,
    version: VERSION,
    digest: server().digest,
    embeddingAddress: server().address,
  });
  const { app, closeConnection } = await startInProcessNearline(nearline);
  const target = await createBootstrapStore("event-order");
  const embedding = connectEmbedding({ endpoint: server().address, timeoutMs: 60_000 });
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    await waitFor(
      "nearline handled every event",
      () => app.worker.totals.consumed === events.length && app.worker.lag.total === 0,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await expectStoreMatches(await openStore(redis, { name: nearline.sinks.store.name }), VERSION, expected);

    const config = shardConfig(
      shardDocument({
        storeName: target.name,
        run: topic,
        source: { kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic } },
        shards: { count: 1, index: 0 },
        extra: {
          model: {
            version: VERSION,
            digest: server().digest,
            dimensions: MODEL_DIMENSIONS,
            template: jobTemplate,
          },
          decode: {
            keyPath: "$.jobId",
            eventTimePath: "$.updatedAt",
            delete: { path: "$.op", values: ["d"] },
          },
          extract: jobExtract,
        },
      }),
    );
    const outcome = await runShardInProcess(config, embedding.call);
    expect(outcome.outcome).toBe("done");
    await expectStoreMatches(target.store, VERSION, expected);
  } finally {
    embedding.close();
    await app.stop();
    closeConnection();
    await target.drop();
    await deleteKeysWithPrefix(redis, `jude:${nearline.sinks.store.name}`);
    await redis.quit();
  }
}
