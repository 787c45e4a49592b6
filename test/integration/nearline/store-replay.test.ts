/**
 * A store that loses acknowledged writes after the pipeline committed their offsets (restored from an
 * older snapshot here) is found behind by the source offsets it records (store/source-offsets.ts):
 * when the worker's store connection comes back it compares them with the group's committed offsets
 * and replays the source from the store's offset, so the entities written after the snapshot get
 * their vectors back (before: committed, never written again until they change).
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
import {
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
  nearlineConfig,
  restartOwnedRedisFrom,
  snapshotOwnedRedis,
  startInProcessNearline,
  startJobWorker,
  untilLive,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { workerMetric } from "../../support/nearline-processes.ts";
import { waitFor } from "../../testbed/wait.ts";
import { bucketKeys, bucketOf, recordField } from "../../../store/layout.ts";
import { parseClusterNodes } from "../../../store/connection.ts";
import {
  connectRedis,
  isCluster,
  openStore,
  readSourceOffsets,
  sourceOffsetField,
  sourceOffsetsKey,
  StoreWriter,
  type SourceOffsetResult,
} from "../../../store/index.ts";

const version = "replay-v1";
// A Redis of this test's own: it is stopped and restarted from an older copy of its data.
const deps = useOwnedRedisAndEmbedding(version);

it("replays the records a store restored from an older snapshot lost, and counts the replay", async () => {
  const topic = uniqueTopic("nl-store-replay");
  const { app, config, metric, stop } = await startJobWorker(deps.embedding, {
    topic,
    storeUrl: deps.redis.url,
  });
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-1");
  const before = ["a1", "a2", "a3"];
  const after = ["b1", "b2", "b3", "b4"];
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await produceEvents(topic, jobEvents(before, 1000));
    await waitFor("the first records to be committed", () => app.worker.totals.consumed >= 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(await liveIds(store, version, before)).toEqual(before);
    // The snapshot: the AOF (fsynced on every write) as it is now, while the worker is idle.
    snapshotOwnedRedis(deps.redis, snapshot);

    await produceEvents(topic, jobEvents(after, 2000));
    await waitFor("the later records to be committed", () => app.worker.totals.consumed >= 7, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(await liveIds(store, version, after)).toEqual(after);
    expect(await metric("jude_pipeline_store_replays_total")).toBe(0);

    // Restarted from the older snapshot: the later records' writes are gone, their offsets committed.
    await restartOwnedRedisFrom(deps.redis, snapshot);

    await untilLive("the later records' vectors to come back", store, version, after, 60_000);
    expect(await liveIds(store, version, before)).toEqual(before);
    expect(await metric("jude_pipeline_store_replays_total", 'cause="store-behind"')).toBe(1);
    expect(await metric("jude_pipeline_store_replayed_offsets_total")).toBe(after.length);
    expect(await metric("jude_pipeline_store_replay_lost_total")).toBe(0);
    expect(app.worker.replays).toEqual({ replays: 1, replayedOffsets: after.length, lost: 0 });
  } finally {
    admin.disconnect();
    await stop();
  }
});

it("replays a store restored to a snapshot from before a handed-over version's first batch, also after a restart", async () => {
  // A version's workers start from offsets committed for them (the bootstrap's snapshot, here a
  // first start under startOffset latest): the store has no offset of theirs until a batch comes.
  const topic = uniqueTopic("nl-store-handoff");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const handedOver = ["h1", "h2", "h3"];
  const after = ["n1", "n2", "n3", "n4"];
  await produceEvents(topic, jobEvents(handedOver, 1000));
  const latest = {
    ...config,
    source: { kafka: { ...config.source.kafka, startOffset: "latest" as const } },
  };
  const start = () => startInProcessNearline(latest);
  let worker = await start();
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-handoff");
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await waitFor(
      "the worker to start at the handed-over offset",
      async () => (await committedByPartition(config.source.kafka.consumerGroup, topic)).get(0) === 3,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // The worker's check on assignment records that offset (it is in the snapshot).
    await waitFor(
      "the handed-over offset to be recorded in the store",
      async () =>
        (
          await readSourceOffsets(
            store,
            version,
            await offsetSourceOf(config.source.kafka.consumerGroup, topic),
            [0],
          )
        ).get(0) === 3n,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // The snapshot, before any batch of this version.
    snapshotOwnedRedis(deps.redis, snapshot);
    await produceEvents(topic, jobEvents(after, 2000));
    await waitFor("the new records to be committed", () => worker.app.worker.totals.consumed >= 4, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(await liveIds(store, version, after)).toEqual(after);

    // The store restored from that snapshot while the worker is restarted (a maintenance).
    await worker.app.stop();
    worker.closeConnection();
    await restartOwnedRedisFrom(deps.redis, snapshot);
    worker = await start();
    await untilLive("the new records' vectors to come back", store, version, after, 30_000);
    // Replayed from the handed-over offset, not from the log's start.
    expect(worker.app.worker.replays).toEqual({ replays: 1, replayedOffsets: after.length, lost: 0 });
  } finally {
    admin.disconnect();
    await worker.app.stop();
    worker.closeConnection();
  }
});

it("records a source offset only over the one the writer expects (the script), and reads it back", async () => {
  const admin = connectRedis({ url: deps.redis.url });
  try {
    const store = await openStore(admin, { name: "offsets-script", create: true });
    const writer = new StoreWriter(store);
    const source = { group: "g", topic: "t", topicId: "id-1" };
    const record = async (offset: bigint, expected?: bigint): Promise<SourceOffsetResult> => {
      let results: readonly SourceOffsetResult[] = [];
      await writer.write([], {
        marks: [{ version, source, partition: 2, offset, expected }],
        onResults: (each) => {
          results = each;
        },
      });
      return results[0]!;
    };
    expect(await record(10n)).toEqual({ set: true });
    expect(await record(20n, 10n)).toEqual({ set: true });
    expect(await record(20n, 10n)).toEqual({ set: true }); // a resend after a lost reply
    // Another writer past this one's offset (a worker that took the partition over): left as it is.
    expect(await record(15n, 10n)).toEqual({ set: false, stored: 20n });
    // Gone back below what this writer expects (restored): left as it is and reported.
    expect(await record(40n, 25n)).toEqual({ set: false, stored: 20n });
    expect(await readSourceOffsets(store, version, source, [2, 3])).toEqual(
      new Map([
        [2, 20n],
        [3, null],
      ]),
    );
    // Another writer recorded an offset between the one this writer expects and its own (the
    // partition's previous owner finishing its last batch after this one read the offset): this
    // writer's writes cover it, so its offset is set, and the store is not left behind the offset it
    // then commits to Kafka (which the next check would take for a store restored behind).
    expect(await record(30n, 10n)).toEqual({ set: true });
    expect(await readSourceOffsets(store, version, source, [2])).toEqual(new Map([[2, 30n]]));
    await admin.del(`{${store.layout.prefix}:0}:v:${version}:o`);
    expect(await record(40n, 30n)).toEqual({ set: false, stored: null });
  } finally {
    admin.disconnect();
  }
});

it("finds the loss when a batch in flight writes to the store restored behind it (its offset is refused)", async () => {
  const topic = uniqueTopic("nl-store-replay-inflight");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  // The third batch is held after its inference (before its store writes) while the store goes back.
  let hold: { reached: () => void; release: Promise<void> } | undefined;
  const { app, closeConnection } = await startInProcessNearline(config, undefined, {
    atStep: async (step) => {
      const held = hold;
      if (step !== "embedded" || held === undefined) return;
      hold = undefined;
      held.reached();
      await held.release;
    },
  });
  const metric = (name: string, labels?: string) => workerMetric(app.ops.port, name, labels);
  const admin = connectRedis({ url: deps.redis.url });
  const snapshot = join(deps.redis.dir, "snapshot-2");
  const first = ["c1", "c2"];
  const second = ["d1", "d2", "d3"];
  const third = ["e1", "e2"];
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await produceEvents(topic, jobEvents(first, 1000));
    await waitFor("the first batch", () => app.worker.totals.consumed >= 2, { timeoutMs: 60_000 });
    snapshotOwnedRedis(deps.redis, snapshot);
    await produceEvents(topic, jobEvents(second, 2000));
    await waitFor("the second batch", () => app.worker.totals.consumed >= 5, { timeoutMs: 60_000 });

    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      hold = { reached: resolve, release: new Promise<void>((done) => (release = done)) };
    });
    await produceEvents(topic, jobEvents(third, 3000));
    await reached;
    await restartOwnedRedisFrom(deps.redis, snapshot);
    release();

    await untilLive(
      "every record's vector after the replay",
      store,
      version,
      [...first, ...second, ...third],
      60_000,
    );
    expect(await metric("jude_pipeline_store_replays_total", 'cause="store-behind"')).toBe(1);
    expect(await metric("jude_pipeline_store_replayed_offsets_total")).toBe(second.length);
  } finally {
    admin.disconnect();
    await app.stop();
    closeConnection();
  }
});

it("finds the store behind when only one Redis Cluster node's connection drops (the Cluster client stays ready)", async () => {
  const topic = uniqueTopic("nl-store-replay-cluster");
  await createTopics([topic], 1);
  const config = nearlineConfig({
    topic,
    mode: "cluster",
    version: deps.embedding.version,
    digest: deps.embedding.digest,
    embeddingAddress: deps.embedding.address,
  });
  const { app, closeConnection } = await startInProcessNearline(config);
  const metric = (name: string, labels?: string) => workerMetric(app.ops.port, name, labels);
  const admin = connectRedis({ clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) });
  const before = ["f1", "f2"];
  const after = ["g1", "g2", "g3"];
  try {
    const store = await openStore(admin, { name: config.sinks.store.name });
    await produceEvents(topic, jobEvents(before, 1000));
    await waitFor("the first records", () => app.worker.totals.consumed >= 2, { timeoutMs: 60_000 });
    await produceEvents(topic, jobEvents(after, 2000));
    await waitFor("the later records", () => app.worker.totals.consumed >= 5, { timeoutMs: 60_000 });
    expect(await liveIds(store, version, after)).toEqual(after);

    // What a primary restored behind holds: the offset after the first records, the later ones gone
    // (bucket 0's primary restarted from an older snapshot; the other buckets' went with it here).
    const offsets = sourceOffsetsKey(store.layout, version);
    await admin.hset(
      offsets,
      sourceOffsetField(await offsetSourceOf(config.source.kafka.consumerGroup, topic), 0),
      "2",
    );
    for (const id of after) {
      const field = recordField("job", id);
      const keys = bucketKeys(store.layout, version, bucketOf(store.layout, field));
      await admin.hdel(keys.meta, field);
      await admin.hdel(keys.data, field);
    }
    // The worker's connection to that primary drops; its other nodes' stay, and so does the Cluster.
    if (!isCluster(admin)) throw new Error("expected a Redis Cluster client");
    const connectionName = `jude-nearline-${config.pipeline.name}-${version}`;
    let killed = 0;
    for (const node of admin.nodes("master")) {
      const owns = await node.hget(offsets, "x").then(
        () => true,
        () => false,
      );
      if (!owns) continue;
      const clients = (await node.call("CLIENT", "LIST")) as string;
      for (const line of clients.split("\n")) {
        if (!line.includes(` name=${connectionName} `)) continue;
        const id = /(?:^| )id=(\d+)/.exec(line)![1]!;
        killed += Number(await node.call("CLIENT", "KILL", "ID", id));
      }
    }
    expect(killed).toBeGreaterThan(0);

    await untilLive("the later records' vectors to come back", store, version, after, 30_000);
    expect(await metric("jude_pipeline_store_replays_total", 'cause="store-behind"')).toBe(1);
    expect(await metric("jude_pipeline_store_replayed_offsets_total")).toBe(after.length);
  } finally {
    admin.disconnect();
    await app.stop();
    closeConnection();
  }
});
