/**
 * Whose offsets of which log the store's recorded source offsets are (store/source-offsets.ts): a
 * changelog topic deleted and created again under its name is a new log whose offsets start at 0
 * again, and a store restored to a snapshot from before that is still found behind (the old topic's
 * higher offset says nothing of the new one); two pipelines of a version with their own consumer
 * groups on topics of one name keep their own offsets; a store written by the release before (field
 * `<topic>:<partition>`) keeps working after the upgrade, with neither a false replay nor a missed one.
 */
import { join } from "node:path";
import { Admin } from "@platformatic/kafka";
import { expect, it } from "vitest";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import {
  bootstrapBrokers,
  committedByPartition,
  createTopics,
  offsetSourceOf,
  produceEvents,
  uniqueTopic,
} from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  liveIds,
  restartOwnedRedisFrom,
  snapshotOwnedRedis,
  startInProcessNearline,
  startJobWorker,
  untilLive,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  connectRedis,
  legacySourceOffsetField,
  openStore,
  readSourceOffsets,
  sourceOffsetField,
  sourceOffsetsKey,
} from "../../../store/index.ts";

const version = "offset-sources-v1";
// A Redis of this test's own: it is restarted from an older copy of its data.
const deps = useOwnedRedisAndEmbedding(version);

/** Deletes `topic` and creates it again (the broker refuses the name until the deletion finished). */
async function recreateTopic(topic: string): Promise<void> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.close();
  }
  await waitFor(
    "the topic to be created again",
    () =>
      createTopics([topic], 1).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

it("finds a store restored to before its changelog topic was deleted and created again behind the new topic", async () => {
  const topic = uniqueTopic("nl-offsets-recreated");
  const { app, config, metric, stop } = await startJobWorker(deps.embedding, {
    topic,
    storeUrl: deps.redis.url,
  });
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-recreated");
  const old = ["o1", "o2", "o3", "o4", "o5"];
  const renewed = ["r1", "r2", "r3"];
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await produceEvents(topic, jobEvents(old, 1000));
    await waitFor("the old topic's records", () => app.worker.totals.consumed >= old.length, {
      timeoutMs: 60_000,
    });
    // The snapshot: the old topic's offset 5 recorded.
    snapshotOwnedRedis(deps.redis, snapshot);

    // Deleted and created again: the group's offsets went with it, the new log starts at 0.
    await recreateTopic(topic);
    await produceEvents(topic, jobEvents(renewed, 2000));
    await untilLive("the new topic's records", store, version, renewed, 90_000);
    await waitFor(
      "the new topic's offsets to be committed",
      async () => (await committedByPartition(config.source.kafka.consumerGroup, topic)).get(0) === 3,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Neither replayed nor lost (the worker read the new topic from its first record), and its
    // offset recorded under the new topic's ID.
    expect(app.worker.replays.replays).toBe(0);
    expect(app.worker.recordsLost).toBe(0);
    const source = await offsetSourceOf(config.source.kafka.consumerGroup, topic);
    expect(await readSourceOffsets(store, version, source, [0])).toEqual(new Map([[0, 3n]]));

    // The store restored to the snapshot: the old topic's offset 5, none of the new records. Before,
    // the field `<topic>:0` held that 5, which passed the new topic's committed 3: nothing replayed,
    // and the new records stayed missing.
    await restartOwnedRedisFrom(deps.redis, snapshot);
    await untilLive("the new topic's records to come back", store, version, renewed, 30_000);
    expect(await metric("jude_pipeline_store_replays_total", 'cause="store-offset-missing"')).toBe(1);
    expect(app.worker.replays).toEqual({ replays: 1, replayedOffsets: renewed.length, lost: 0 });
    // A real loss, counted as one although the topic was created again before it: the worker had
    // recorded the new topic's offset, so it is no re-read of a topic created again.
    expect(await metric("jude_pipeline_store_replays_total", 'cause="topic-recreated"')).toBe(0);
    expect(app.worker.recreatedReads).toEqual({ partitions: 0, lost: 0 });
  } finally {
    admin.disconnect();
    await stop();
  }
});

it("keeps the offsets of two pipelines of a version on one topic name, each with its own group, apart", async () => {
  // Two pipelines of one version and store (jobs and members, say) read a topic of one name, each
  // with its own consumer group (here the same topic on one cluster; two clusters alike). Before,
  // both recorded the field `<topic>:0`: one's offset stood for the other's.
  const topic = uniqueTopic("nl-offsets-groups");
  const jobsConfig = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const membersConfig: NearlineConfig = {
    ...jobsConfig,
    pipeline: { ...jobsConfig.pipeline, name: `${jobsConfig.pipeline.name}-members` },
    entity: "member",
    source: { kafka: { ...jobsConfig.source.kafka, consumerGroup: `${topic}-members` } },
  };
  const jobsWorker = await startInProcessNearline(jobsConfig);
  let membersWorker = await startInProcessNearline(membersConfig);
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-groups");
  const before = ["p1", "p2", "p3"];
  const after = ["q1", "q2", "q3"];
  try {
    const store = await openStore(admin, { name: jobsConfig.sinks.store.name });
    await produceEvents(topic, jobEvents(before, 1000));
    await waitFor(
      "both pipelines' first records",
      () => jobsWorker.app.worker.totals.consumed >= 3 && membersWorker.app.worker.totals.consumed >= 3,
      { timeoutMs: 60_000 },
    );
    snapshotOwnedRedis(deps.redis, snapshot);
    await produceEvents(topic, jobEvents(after, 2000));
    await waitFor(
      "both pipelines' later records",
      () => jobsWorker.app.worker.totals.consumed >= 6 && membersWorker.app.worker.totals.consumed >= 6,
      { timeoutMs: 60_000 },
    );
    expect(await liveIds(store, version, after, "member")).toEqual(after);

    // The store restored to the snapshot while the members' worker is stopped: the jobs' worker finds
    // it behind and replays, recording its offset 6 again; then the members' worker starts.
    await membersWorker.app.stop();
    membersWorker.closeConnection();
    await restartOwnedRedisFrom(deps.redis, snapshot);
    await untilLive("the jobs' later records to come back", store, version, after, 30_000);
    expect(jobsWorker.app.worker.replays.replays).toBe(1);
    membersWorker = await startInProcessNearline(membersConfig);
    // Its own offset, 3, is behind its group's 6: replayed (before: the jobs' 6 stood for it).
    await untilLive("the members' later records to come back", store, version, after, 30_000, "member");
    expect(membersWorker.app.worker.replays).toEqual({ replays: 1, replayedOffsets: after.length, lost: 0 });
    const offsets = await admin.hgetall(sourceOffsetsKey(store.layout, version));
    expect(Object.keys(offsets).sort()).toEqual(
      [
        sourceOffsetField(await offsetSourceOf(jobsConfig.source.kafka.consumerGroup, topic), 0),
        sourceOffsetField(await offsetSourceOf(membersConfig.source.kafka.consumerGroup, topic), 0),
      ].sort(),
    );
  } finally {
    admin.disconnect();
    await jobsWorker.app.stop();
    jobsWorker.closeConnection();
    await membersWorker.app.stop();
    membersWorker.closeConnection();
  }
});

it("upgrades a store the release before wrote (field `<topic>:<partition>`): no false replay, no missed one", async () => {
  const topic = uniqueTopic("nl-offsets-upgrade");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-upgrade");
  const first = ["u1", "u2", "u3"];
  const later = ["v1", "v2", "v3", "v4"];
  let worker = await startInProcessNearline(config);
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    const offsetsKey = sourceOffsetsKey(store.layout, version);
    await produceEvents(topic, jobEvents(first, 1000));
    await waitFor("the first records", () => worker.app.worker.totals.consumed >= 3, { timeoutMs: 60_000 });
    await worker.app.stop();
    worker.closeConnection();
    // The store as the release before left it: its one field, the offset its workers committed.
    await admin.del(offsetsKey);
    await admin.hset(offsetsKey, legacySourceOffsetField(topic, 0), "3");
    snapshotOwnedRedis(deps.redis, snapshot);

    // The upgraded worker adopts it: nothing replayed, its own field starts at 3.
    worker = await startInProcessNearline(config);
    const source = await offsetSourceOf(config.source.kafka.consumerGroup, topic);
    await waitFor(
      "the legacy offset to be adopted",
      async () => (await readSourceOffsets(store, version, source, [0])).get(0) === 3n,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await produceEvents(topic, jobEvents(later, 2000));
    await waitFor("the later records", () => worker.app.worker.totals.consumed >= 4, { timeoutMs: 60_000 });
    expect(await readSourceOffsets(store, version, source, [0])).toEqual(new Map([[0, 7n]]));
    expect(worker.app.worker.replays.replays).toBe(0);
    // The release before's field is left as it was (a worker of it, still running during a rolling
    // update, keeps its own).
    expect(await admin.hget(offsetsKey, legacySourceOffsetField(topic, 0))).toBe("3");

    // Restored to the snapshot the release before wrote (offset 3, none of the later records): the
    // worker adopts that offset again and replays what the store lost.
    await restartOwnedRedisFrom(deps.redis, snapshot);
    await untilLive("the later records to come back", store, version, later, 30_000);
    expect(worker.app.worker.replays).toEqual({ replays: 1, replayedOffsets: later.length, lost: 0 });
  } finally {
    admin.disconnect();
    await worker.app.stop();
    worker.closeConnection();
  }
});

it("does not commit a batch read from the deleted topic onto the topic created again (its first records are read)", async () => {
  // A batch read from the old topic is in hand (the store hangs) while the topic is deleted and
  // created again. Committing its offsets after that commits them onto the new topic: reading would
  // resume there, past the new topic's first records, which would be neither stored nor replayed.
  const topic = uniqueTopic("nl-offsets-stale-batch");
  const { app, config, metric, stop } = await startJobWorker(deps.embedding, {
    topic,
    storeUrl: deps.redis.url,
  });
  const admin = connectRedis({ url: deps.redis.url });
  const renewed = Array.from({ length: 12 }, (_, index) => `n${index}`);
  let paused = false;
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await produceEvents(topic, jobEvents(["a1", "a2", "a3"], 1000));
    await waitFor("the first batch", () => app.worker.totals.consumed >= 3, { timeoutMs: 60_000 });
    const retriesBefore = await metric("jude_pipeline_retries_total", 'dependency="store"');
    deps.redis.pause();
    paused = true;
    await produceEvents(topic, jobEvents(["b1", "b2", "b3", "b4", "b5", "b6", "b7"], 1100));
    await waitFor(
      "the old topic's batch in hand, its store writes retried",
      async () => (await metric("jude_pipeline_retries_total", 'dependency="store"')) > retriesBefore,
      { timeoutMs: 45_000, intervalMs: 500 },
    );
    await recreateTopic(topic);
    await produceEvents(topic, jobEvents(renewed, 2000));
    deps.redis.resume();
    paused = false;
    // Read from the new topic's start again (the committed offset past its first records is not
    // taken as done): every record stored.
    await untilLive("every record of the new topic", store, version, renewed, 90_000);
    expect(app.worker.recordsLost).toBe(0);
    // That re-read is no store loss: counted under its own cause, not as a replay (/readyz
    // storeReplays, the operator's StoreReplayed), and no offsets counted as read again (the
    // committed one was the deleted topic's).
    expect(await metric("jude_pipeline_store_replays_total", 'cause="topic-recreated"')).toBe(1);
    expect(app.worker.recreatedReads).toEqual({ partitions: 1, lost: 0 });
    expect(await metric("jude_pipeline_store_replays_total", 'cause="store-offset-missing"')).toBe(0);
    expect(await metric("jude_pipeline_store_replayed_offsets_total")).toBe(0);
    expect(app.worker.replays.replays).toBe(0);
  } finally {
    if (paused) deps.redis.resume();
    admin.disconnect();
    await stop();
  }
});
