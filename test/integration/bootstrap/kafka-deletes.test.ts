/**
 * A Kafka bootstrap applies deletes as nearline does, also when a key's records are on two partitions.
 * After partitions are added, the producer's partitioner moves some keys to a new partition: a key
 * updated on partition 0 is deleted by a record on partition 1. Each partition is replayed on its own
 * (a shard keeps the latest state per key of one partition), so the delete must reach the store as a
 * conditional tombstone: left out of the snapshot, the key's older upsert from partition 0 was written
 * and the deleted entity stayed in the version for good (a nearline worker continuing from the
 * watermarks never sees the delete again). The same holds for a key the store already holds from an
 * earlier run. Real Kafka and Redis of the testbed, the test embedding server.
 */
import { expect, it } from "vitest";
import { Admin, Consumer } from "@platformatic/kafka";
import { pino } from "pino";
import type { PartitionWatermark } from "../../../pipelines/bootstrap/config.ts";
import { sampleStoredVectors } from "../../../controllers/embedding-model/parity-check.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import type { NearlineApp } from "../../../pipelines/nearline/app.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { countVersion, StoreWriter } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import {
  bootstrapBrokers,
  commitGroupOffsets,
  createTopics,
  produceEvents,
  readTopic,
  uniqueTopic,
  type TestEvent,
} from "../../support/kafka.ts";
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

const job = (title: string) => ({ title, company: "Acme", skills: [] });
const deleteEvent = (id: string, time: number): TestEvent => ({
  key: id,
  value: { jobId: id, updatedAt: time, op: "d" },
});
const on = (partition: number, event: TestEvent): TestEvent => ({ ...event, partition });
/** The event-time window of the scoped runs: 50 ms to 300 ms. */
const scope = { eventTimeFrom: "1970-01-01T00:00:00.050Z", eventTimeTo: "1970-01-01T00:00:00.300Z" };

it.each([
  { layout: "one shard reading both partitions", count: 1, order: [0] },
  { layout: "two shards, the added partition's first", count: 2, order: [1, 0] },
])(
  "deletes a key whose delete is on a partition added after its update ($layout), and nearline from the watermarks agrees",
  async ({ count, order }) => {
    const history = [
      on(0, jobEvent("moved-delete", 100, job("Nurse"))),
      on(0, jobEvent("moved-tombstone", 100, job("Pilot"))),
      on(0, jobEvent("moved-recreated", 100, job("Cook"))),
      on(0, jobEvent("recreated-on-new", 100, job("Driver"))),
      on(0, deleteEvent("recreated-on-new", 200)),
      on(0, jobEvent("late-delete", 100, job("Clerk"))),
      on(0, jobEvent("stays", 100, job("Welder"))),
    ];
    const moved = [
      on(1, deleteEvent("moved-delete", 200)),
      on(1, { key: "moved-tombstone", value: null }), // a tombstone: deleted at its record time (now)
      on(1, deleteEvent("moved-recreated", 200)),
      on(1, jobEvent("moved-recreated", 300, job("Baker"))), // re-created after the delete
      on(1, jobEvent("recreated-on-new", 300, job("Farmer"))), // re-created after its delete on partition 0
      on(1, deleteEvent("late-delete", 50)), // stamped before the update it follows: loses
    ];
    const { topic, watermarks } = await movedKeysTopic("bootstrap-moved-delete", history, moved);

    await withTarget("moved-delete", async (target, embedding) => {
      await runShards(topic, target.name, embedding, { count, order }, watermarks);
      const snapshot = [...history, ...moved];
      await expectStoreMatches(target.store, VERSION, expectedFinalState(snapshot, VERSION));

      // The version's nearline worker continues from the watermarks (the operator commits them as its
      // group's offsets): a late update of the deleted key, older than the delete, must not revive it.
      const nearline = await fromWatermarks(topic, target.name, watermarks);
      const later = [
        on(0, jobEvent("moved-delete", 150, job("Nurse II"))),
        on(1, jobEvent("new", 400, job("Chef"))),
      ];
      await produceEvents(topic, later);
      await nearlineHandles(nearline, later.length, "nearline handled the events after the watermarks");
      await expectStoreMatches(target.store, VERSION, expectedFinalState([...snapshot, ...later], VERSION));
    });
  },
);

it.each([
  { layout: "one shard reading both partitions", count: 1, order: [0] },
  { layout: "two shards, the added partition's first", count: 2, order: [1, 0] },
  { layout: "two shards, the old partition's first", count: 2, order: [0, 1] },
])(
  "ends a key deleted when its newest record, a delete after scope.eventTimeTo, is on a partition added after its update inside the window ($layout)",
  async ({ count, order }) => {
    // Scope applies to each key's latest state. A shard keeps the latest state per key of one
    // partition, so the partition holding the key's update inside the window cannot see that the
    // key's newest record, on the added partition, deletes it after the window: the update was
    // written and a deleted entity entered the version (its nearline worker, starting from the
    // watermarks, never sees the delete). The key must end deleted or absent.
    const history = [
      on(0, jobEvent("deleted-after", 100, job("Nurse"))),
      on(0, jobEvent("deleted-inside", 100, job("Pilot"))),
      on(0, jobEvent("kept", 100, job("Welder"))),
      on(0, jobEvent("before-window", 10, job("Clerk"))),
    ];
    const moved = [
      on(1, deleteEvent("deleted-after", 400)),
      on(1, deleteEvent("deleted-inside", 200)),
      on(1, jobEvent("kept", 200, job("Welder II"))),
      on(1, deleteEvent("before-window", 20)), // before the window: the key stays out of the run
    ];
    const { topic, watermarks } = await movedKeysTopic("bootstrap-scope-delete", history, moved);
    await withTarget("scope-delete", async (target, embedding) => {
      await runShards(topic, target.name, embedding, { count, order }, watermarks, scope);
      await expectStoreMatches(target.store, VERSION, expectedFinalState([...history, ...moved], VERSION));
      expect(await countVersion(target.store, VERSION)).toMatchObject({ live: 1 });
    });
  },
);

it("leaves a version nearline keeps fresh as it is when a bootstrap scoped to a past window writes the deletes after the window", async () => {
  // A run scoped to an earlier window over a live version: every delete after the window it now
  // writes is one nearline already stored (or overtook), so the store refuses each as stale, counts
  // nothing deleted, and changes no key, also one re-created after its delete or never stored live.
  const history = [
    on(0, jobEvent("deleted-after", 100, job("Nurse"))),
    on(0, jobEvent("recreated-after", 100, job("Pilot"))),
    on(0, jobEvent("recreated-on-old", 100, job("Cook"))),
    on(0, jobEvent("kept", 100, job("Welder"))),
  ];
  const moved = [
    on(1, deleteEvent("deleted-after", 400)),
    on(1, deleteEvent("recreated-after", 400)),
    on(1, jobEvent("recreated-after", 500, job("Pilot II"))),
    on(1, deleteEvent("recreated-on-old", 400)),
    on(0, jobEvent("recreated-on-old", 500, job("Cook II"))),
    on(1, deleteEvent("never-live", 400)),
  ];
  const { topic, watermarks } = await movedKeysTopic("bootstrap-scope-fresh", history, moved);
  const all = [...history, ...moved];
  await withTarget("scope-fresh", async (target, embedding) => {
    const nearline = await fromWatermarks(
      topic,
      target.name,
      watermarks.map((each) => ({ ...each, offset: 0 })),
    );
    await nearlineHandles(nearline, all.length, "nearline handled the whole topic");
    await expectStoreMatches(target.store, VERSION, expectedFinalState(all, VERSION));
    const before = await countVersion(target.store, VERSION);
    const outcome = await runShardInProcess(
      bootstrapConfig(topic, target.name, { count: 1, index: 0 }, watermarks, topic, scope),
      embedding.call,
    );
    expect(outcome.outcome).toBe("done");
    await expectStoreMatches(target.store, VERSION, expectedFinalState(all, VERSION));
    expect(await countVersion(target.store, VERSION)).toEqual(before);
    // Partition 0: three updates inside the window (stale), recreated-on-old's re-create after it
    // (skipped); partition 1: three deletes after the window (stale), recreated-after's re-create
    // after it (skipped).
    expect(outcome.state.counts).toMatchObject({ written: 0, deleted: 0, stale: 6, skipped: 2 });
  });
});

it("removes a key deleted since an earlier run of the version from the store when the version is bootstrapped again", async () => {
  const topic = uniqueTopic("bootstrap-delete-rerun");
  await createTopics([topic], 1);
  const first = [
    jobEvent("deleted", 100, job("Nurse")),
    jobEvent("tombstoned", 100, job("Pilot")),
    jobEvent("kept", 100, job("Welder")),
  ];
  await produceEvents(topic, first);
  await withTarget("delete-rerun", async (target, embedding) => {
    const earlier = await runShardInProcess(
      bootstrapConfig(topic, target.name, { count: 1, index: 0 }, await endOffsets(topic), `${topic}-a`),
      embedding.call,
    );
    expect(earlier.outcome).toBe("done");
    await expectStoreMatches(target.store, VERSION, expectedFinalState(first, VERSION));

    const deletes = [deleteEvent("deleted", 200), { key: "tombstoned", value: null }];
    await produceEvents(topic, deletes);
    const again = await runShardInProcess(
      bootstrapConfig(topic, target.name, { count: 1, index: 0 }, await endOffsets(topic), `${topic}-b`),
      embedding.call,
    );
    expect(again.outcome).toBe("done");
    const expected = expectedFinalState([...first, ...deletes], VERSION);
    expect([...expected.values()].filter((hash) => hash === null)).toHaveLength(2);
    await expectStoreMatches(target.store, VERSION, expected);
  });
});

it("keeps a key re-created after the watermarks live when the bootstrap's tombstone lands while the worker writes it unchanged", async () => {
  // The bootstrap runs while the version's worker already writes. Shard 0 wrote the key's update from
  // partition 0; the worker reads it (live, "Nurse") and plans the re-create after the watermarks, with
  // the same text, as an advance of the stored position; shard 1 writes the delete from partition 1
  // (added later) in between. The re-create is the key's newest event: the key must end up live.
  const history = [on(0, jobEvent("raced", 100, job("Nurse")))];
  const moved = [on(1, deleteEvent("raced", 200))];
  const { topic, watermarks } = await movedKeysTopic("bootstrap-delete-race", history, moved);
  await withTarget("delete-race", async (target, embedding) => {
    const shard = (index: number) =>
      runShardInProcess(bootstrapConfig(topic, target.name, { count: 2, index }, watermarks), embedding.call);
    expect((await shard(0)).outcome).toBe("done");
    const nearline = await fromWatermarks(topic, target.name, watermarks);
    const raced: string[] = [];
    const { app, closeConnection } = await startInProcessNearline(nearline, silentLogger(), {
      atStep: async (step) => {
        if (step !== "produced" || raced.length > 0) return;
        raced.push((await shard(1)).outcome); // between the worker's change detection and its write
      },
    });
    const later = [on(1, jobEvent("raced", 300, job("Nurse")))];
    try {
      await produceEvents(topic, later);
      await handled(app, later.length, "nearline handled the re-create");
    } finally {
      await app.stop();
      closeConnection();
    }
    expect(raced).toEqual(["done"]);
    await expectStoreMatches(
      target.store,
      VERSION,
      expectedFinalState([...history, ...moved, ...later], VERSION),
    );
  });
});

it("dead-letters, naming the key, an unchanged event whose write other writers refused in every round of its batch", async () => {
  // Another writer tombstones the key at an older position between the worker's change detection and
  // its write, in every round, and (but after the last) stores the text again at an older position, so
  // each round plans an advance again. The real store script refuses each; after the last round the
  // event must not vanish: it is dead-lettered WRITE_CONTENDED to the dead-letter topic.
  const topic = uniqueTopic("nearline-contended");
  const deadLetters = uniqueTopic("nearline-contended-dlq");
  await createTopics([topic, deadLetters], 1);
  const target = await createBootstrapStore("contended");
  const config = workerConfig(topic, target.name, deadLetters);
  const writer = new StoreWriter(target.store);
  let armed = false;
  let rounds = 0;
  let hash = "";
  const logged: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const { app, closeConnection } = await startInProcessNearline(config, logger, {
    atStep: async (step) => {
      if (!armed) return;
      const other = { entity: "job", id: "contended", version: VERSION, partition: 1, offset: rounds };
      if (step === "produced")
        await writer.write([{ ...other, kind: "delete", eventTimeMs: 200 + 10 * rounds }]);
      if (step !== "stored") return;
      rounds++;
      if (rounds < 4)
        await writer.write([
          {
            ...other,
            kind: "upsert",
            eventTimeMs: 195 + 10 * rounds,
            vector: new Float32Array(MODEL_DIMENSIONS).fill(0.1),
            modelDigest: config.model.digest,
            contentHash: hash,
          },
        ]);
    },
  });
  try {
    await produceEvents(topic, [jobEvent("contended", 100, job("Nurse"))]);
    await handled(app, 1, "nearline wrote the key");
    const [stored] = await writer.readMeta(VERSION, [{ entity: "job", id: "contended" }]);
    hash = stored!.contentHash;
    armed = true;
    await produceEvents(topic, [jobEvent("contended", 300, job("Nurse"))]);
    await handled(app, 2, "nearline handled the event");
    expect(rounds).toBe(4);
    expect(app.worker.totals).toMatchObject({ deadLettered: 1, skippedUnchanged: 0 });
    const [letter] = await readTopic(deadLetters, 1);
    expect(letter!.key).toBe("contended");
    expect(letter!.headers["jude.error.code"]).toBe("WRITE_CONTENDED");
    expect(letter!.headers["jude.error.reason"]).toContain("key contended");
    expect(letter!.headers["jude.source.offset"]).toBe("1");
    // The worker's log line names the key in a field of its own, not only inside the reason.
    expect(logged.filter((line) => line.msg === "event dead-lettered")).toEqual([
      expect.objectContaining({ code: "WRITE_CONTENDED", id: "contended", partition: 0, offset: "1" }),
    ]);
  } finally {
    await app.stop();
    closeConnection();
    await target.drop();
  }
});

it("counts each delete of a mostly-deletes topic once across an interruption, and its tombstones are no live entities", async () => {
  // A compacted topic that is mostly deletes, many of keys the version never held: each becomes a
  // tombstone record. Killed mid-partition and resumed, each key is counted written, deleted or stale
  // exactly once; the coverage counters and the parity sample see only the live keys.
  const topic = uniqueTopic("bootstrap-mostly-deletes");
  await createTopics([topic], 1);
  const events: TestEvent[] = [];
  for (let index = 0; index < 120; index++) {
    if (index % 6 === 0) events.push(jobEvent(`live-${index}`, 100, job(`Title ${index}`)));
    else if (index % 2 === 0) events.push(deleteEvent(`never-${index}`, 100));
    else events.push({ key: `gone-${index}`, value: null });
  }
  await produceEvents(topic, events);
  const liveKeys = events.filter((event) => event.key.startsWith("live-")).map((event) => event.key);
  const live = liveKeys.length;
  const deletes = events.length - live;
  const watermarks = await endOffsets(topic);
  await withTarget("mostly-deletes", async (target, embedding) => {
    const config = () => {
      const base = bootstrapConfig(topic, target.name, { count: 1, index: 0 }, watermarks);
      return { ...base, batching: { ...base.batching, maxEntities: 8, inflightBatches: 1 } };
    };
    const abort = new AbortController();
    let calls = 0;
    const interrupted = await runShardInProcess(
      config(),
      async (texts, signal) => {
        if (++calls === 3) abort.abort();
        return embedding.call(texts, signal);
      },
      abort.signal,
    );
    expect(interrupted.outcome).toBe("interrupted");
    const saved = await new CheckpointStore(
      target.client,
      checkpointKey(`jude:${target.name}`, { namespace: "test", name: topic }, 0),
      60,
    ).load();
    expect(saved!.counts.deleted).toBeGreaterThan(0);
    expect(saved!.counts.deleted).toBeLessThan(deletes);
    const done = await runShardInProcess(config(), embedding.call);
    expect(done).toMatchObject({ outcome: "done", resumed: true });
    const counts = done.state.counts;
    expect(counts.entities).toBe(live + deletes);
    expect(counts.written + counts.deleted + counts.stale).toBe(live + deletes);
    expect(counts.deleted).toBeGreaterThanOrEqual(saved!.counts.deleted);
    expect(counts.skipped).toBe(0);
    expect(await countVersion(target.store, VERSION)).toMatchObject({ live, tombstones: deletes });
    const sample = await sampleStoredVectors({ store: target.store, version: VERSION, sampleSize: 200 });
    expect(sample.map((each) => each.field.split(":").at(-1)).sort()).toEqual(liveKeys.sort());
  });
});

/**
 * Runs `test` with a fresh bootstrap store `label` and a connection to the embedding server; closes
 * the connection and drops the store after, whatever `test` did.
 */
async function withTarget(
  label: string,
  test: (
    target: Awaited<ReturnType<typeof createBootstrapStore>>,
    embedding: ReturnType<typeof connectEmbedding>,
  ) => Promise<void>,
): Promise<void> {
  const target = await createBootstrapStore(label);
  const embedding = connectEmbedding({ endpoint: server().address, timeoutMs: 60_000 });
  try {
    await test(target, embedding);
  } finally {
    embedding.close();
    await target.drop();
  }
}

/**
 * A job changelog topic `name-…` that had one partition while `history` was written and two when
 * `moved` was (each event on its own partition), and its end offsets after that: the run's watermarks.
 */
async function movedKeysTopic(
  name: string,
  history: TestEvent[],
  moved: TestEvent[],
): Promise<{ topic: string; watermarks: PartitionWatermark[] }> {
  const topic = uniqueTopic(name);
  await createTopics([topic], 1);
  await produceEvents(topic, history);
  await growTo(topic, 2);
  await produceEvents(topic, moved);
  return { topic, watermarks: await endOffsets(topic) };
}

/** The version's nearline worker config on `topic` into the store `storeName`. */
function workerConfig(topic: string, storeName: string, deadLetterTopic?: string) {
  return nearlineConfig({
    topic,
    deadLetterTopic,
    storeName,
    version: VERSION,
    digest: server().digest,
    embeddingAddress: server().address,
  });
}

/**
 * The version's nearline worker config, its group's offsets committed at the run's `watermarks` (as
 * the operator does before the version's workers start).
 */
async function fromWatermarks(topic: string, storeName: string, watermarks: PartitionWatermark[]) {
  const config = workerConfig(topic, storeName);
  const offsets = Object.fromEntries(watermarks.map(({ partition, offset }) => [partition, offset]));
  await commitGroupOffsets(config.source.kafka.consumerGroup, topic, offsets);
  return config;
}

/** Waits until the worker consumed `count` events in all and has no lag. */
async function handled(app: NearlineApp, count: number, description: string): Promise<void> {
  await waitFor(description, () => app.worker.totals.consumed === count && app.worker.lag.total === 0, {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
}

/**
 * Runs a nearline worker with `config` until it consumed `count` events in all and has no lag
 * (`description` says which), then stops it.
 */
async function nearlineHandles(config: NearlineConfig, count: number, description: string): Promise<void> {
  const { app, closeConnection } = await startInProcessNearline(config);
  try {
    await handled(app, count, description);
  } finally {
    await app.stop();
    closeConnection();
  }
}

/**
 * Runs the shards `order` (of `count`) of a bootstrap of `topic` into the store `storeName` up to
 * `watermarks`, within `scope` when given, one after another; each must end done.
 */
async function runShards(
  topic: string,
  storeName: string,
  embedding: ReturnType<typeof connectEmbedding>,
  { count, order }: { count: number; order: number[] },
  watermarks: PartitionWatermark[],
  scope?: { eventTimeFrom?: string; eventTimeTo?: string },
): Promise<void> {
  for (const index of order) {
    const outcome = await runShardInProcess(
      bootstrapConfig(topic, storeName, { count, index }, watermarks, topic, scope),
      embedding.call,
    );
    expect(outcome.outcome).toBe("done");
  }
}

/** A shard config of the job changelog `topic` into the store `storeName`, reading up to `watermarks`. */
function bootstrapConfig(
  topic: string,
  storeName: string,
  shards: { count: number; index: number },
  watermarks: PartitionWatermark[],
  run = topic,
  scope?: { eventTimeFrom?: string; eventTimeTo?: string },
) {
  return shardConfig(
    shardDocument({
      storeName,
      run,
      source: { kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic, watermarks } },
      shards,
      extra: {
        ...(scope !== undefined ? { scope } : {}),
        model: {
          version: VERSION,
          digest: server().digest,
          dimensions: MODEL_DIMENSIONS,
          template: jobTemplate,
        },
        decode: { keyPath: "$.jobId", eventTimePath: "$.updatedAt", delete: { path: "$.op", values: ["d"] } },
        extract: jobExtract,
      },
    }),
  );
}

/** Grows `topic` to `count` partitions, as an admin does. */
async function growTo(topic: string, count: number): Promise<void> {
  const admin = new Admin({ clientId: "jude-test-grow", bootstrapBrokers: bootstrapBrokers() });
  try {
    await admin.createPartitions({ topics: [{ name: topic, count }] });
  } finally {
    await admin.close();
  }
}

/** The end offsets of every partition now: the watermarks the operator captures at a run's start. */
async function endOffsets(topic: string): Promise<PartitionWatermark[]> {
  const consumer = new Consumer({
    clientId: "jude-test-watermarks",
    groupId: uniqueTopic("watermarks"),
    bootstrapBrokers: bootstrapBrokers(),
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    return ends.map((offset, partition) => ({ partition, offset: Number(offset) }));
  } finally {
    await consumer.close(true);
  }
}
