/**
 * What happens to a worker when the changelog topic changes under it, as it does in production:
 * partitions added by an admin; records deleted (retention, kafka-delete-records) before the worker
 * read them. Real Kafka (the testbed's broker), the real store (the testbed's Redis),
 * the test embedding server.
 */
import { spawn } from "node:child_process";
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  bootstrapBrokers,
  committedOffsets,
  createTopics,
  produceEvents,
  readTopic,
  uniqueTopic,
} from "../../support/kafka.ts";
import { startNearline, type NearlineApp } from "../../../pipelines/nearline/app.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  jobWorkerConfig,
  nearlineConfig,
  startInProcessNearline,
  startJobWorker,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "topic-changes-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
});

afterAll(async () => {
  await embedding?.server.close();
});

it("consumes partitions added to the changelog while it runs, from their first record", async () => {
  const topic = uniqueTopic("nl-parts");
  const { app, config, stop } = await startJobWorker(embedding, { topic });
  const group = config.source.kafka.consumerGroup;
  const admin = new Admin({ clientId: "jude-test-partitions", bootstrapBrokers: bootstrapBrokers() });
  try {
    await produceEvents(topic, [jobEvent("j0", 1000, { title: "Engineer 0", skills: [] })]);
    await waitFor("the first event committed", async () => (await committedOffsets(group, topic)) === 1, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });

    await admin.createPartitions({ topics: [{ name: topic, count: 3 }] });
    // Produced before the worker can have noticed the new partitions: `startOffset: earliest` must
    // still read them (nothing lost between the partitions' creation and their assignment).
    await produceEvents(topic, [
      { ...jobEvent("j1", 1001, { title: "Engineer 1", skills: [] }), partition: 1 },
      { ...jobEvent("j2", 1002, { title: "Engineer 2", skills: [] }), partition: 2 },
    ]);

    // Kafka's own consumers notice new partitions within metadata.max.age.ms (5 min by default); the
    // worker's lag check runs every 5 s. The worker counts a batch once its commit returned, which the
    // broker may answer the test's offset query before: wait for the count too.
    await waitFor(
      "the new partitions' events committed and counted",
      async () => (await committedOffsets(group, topic)) === 3 && app.worker.totals.consumed >= 3,
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    expect(app.worker.totals.embedded).toBe(3);
    expect(Object.keys(app.worker.lag.partitions)).toEqual(["0", "1", "2"]);
  } finally {
    await admin.close();
    await stop();
  }
});

/** A job worker's config for a new `topic` of `partitions` partitions under `startOffset: latest`, and its group. */
async function latestWorkerConfig(topic: string, partitions = 1) {
  const config = await jobWorkerConfig(embedding, { topic, partitions });
  config.source.kafka.startOffset = "latest";
  return { config, group: config.source.kafka.consumerGroup };
}

/** Job events `${prefix}${p}` keyed to each partition p of `partitions`, at `time + p`, titled `Engineer ${title + p}`. */
function eventsOn(prefix: string, time: number, title: number, partitions: readonly number[]) {
  return partitions.map((partition) => ({
    ...jobEvent(`${prefix}${partition}`, time + partition, {
      title: `Engineer ${title + partition}`,
      skills: [],
    }),
    partition,
  }));
}

/** Runs `body` with an admin client of the testbed's broker, closed afterwards. */
async function withAdmin(clientId: string, body: (admin: Admin) => Promise<void>): Promise<void> {
  const admin = new Admin({ clientId, bootstrapBrokers: bootstrapBrokers() });
  try {
    await body(admin);
  } finally {
    await admin.close();
  }
}

/** Commits `offsets` (partition → offset) as the group's offsets of `topic`, as the operator does. */
async function commitGroupOffsets(
  admin: Admin,
  group: string,
  topic: string,
  offsets: Record<number, bigint>,
): Promise<void> {
  await admin.alterConsumerGroupOffsets({
    groupId: group,
    topics: [
      {
        name: topic,
        partitionOffsets: Object.entries(offsets).map(([partition, offset]) => ({
          partition: Number(partition),
          offset,
        })),
      },
    ],
  });
}

/**
 * The version's start after one event older than it (j0 on partition 0), as the operator commits it
 * before a version's workers exist.
 */
async function startAfterOneOlderEvent(admin: Admin, group: string, topic: string): Promise<void> {
  await produceEvents(topic, [jobEvent("j0", 1000, { title: "Engineer 0", skills: [] })]);
  await commitGroupOffsets(admin, group, topic, { 0: 1n });
}

/** Grows a one-partition `topic` to three partitions and writes one event (j1, j2) to each added one. */
async function addTwoPartitionsWithEvents(admin: Admin, topic: string): Promise<void> {
  await admin.createPartitions({ topics: [{ name: topic, count: 3 }] });
  await produceEvents(topic, eventsOn("j", 1000, 0, [1, 2]));
}

/** Starts an in-process worker for `config`, runs `body` with its app, then stops the worker. */
async function withWorker(config: NearlineConfig, body: (app: NearlineApp) => Promise<void>): Promise<void> {
  const { app, closeConnection } = await startInProcessNearline(config);
  try {
    await body(app);
  } finally {
    await app.stop();
    closeConnection();
  }
}

/** Waits until the group has committed `count` offsets of `topic` in all and `also()` holds. */
async function waitCommitted(
  what: string,
  group: string,
  topic: string,
  count: number,
  also: () => boolean = () => true,
  { timeoutMs = 60_000, intervalMs = 500 } = {},
): Promise<void> {
  await waitFor(what, async () => (await committedOffsets(group, topic)) === count && also(), {
    timeoutMs,
    intervalMs,
  });
}

/** Waits until `app` is assigned all three partitions of `topic` and the group committed `count` offsets. */
async function waitThreePartitionsCommitted(
  app: NearlineApp,
  group: string,
  topic: string,
  count: number,
  what = "every partition committed up to its end",
): Promise<void> {
  await waitCommitted(what, group, topic, count, () => Object.keys(app.worker.lag.partitions).length === 3);
}

it("reads partitions added while it runs from their first record under startOffset latest too", async () => {
  const topic = uniqueTopic("nl-partslatest");
  const { config, group } = await latestWorkerConfig(topic);
  await withAdmin("jude-test-partitions-latest", async (admin) => {
    // Before the start, an event the version does not read (older than its start), and the group's
    // start offset after it, as the operator commits it before a version's workers exist.
    await startAfterOneOlderEvent(admin, group, topic);
    await withWorker(config, async (app) => {
      // Produced before the worker can have noticed the new partitions: every record of a partition
      // added after the version started is newer than its start, and must be read ("latest" is where
      // an existing partition's reading starts, not a licence to skip a new partition's first records).
      await addTwoPartitionsWithEvents(admin, topic);
      await waitThreePartitionsCommitted(
        app,
        group,
        topic,
        3,
        "the new partitions assigned and committed up to their end",
      );
      expect(app.worker.totals).toMatchObject({ consumed: 2, embedded: 2 });
    });
  });
});

it("reads partitions added while no worker ran from their first record under startOffset latest", async () => {
  const topic = uniqueTopic("nl-partsaway");
  const { config, group } = await latestWorkerConfig(topic);
  await withAdmin("jude-test-partitions-away", async (admin) => {
    // The version's start, as the operator commits it before its workers exist.
    await startAfterOneOlderEvent(admin, group, topic);
    // While the version's workers are away (a rollout, a node drain), partitions are added and written.
    await addTwoPartitionsWithEvents(admin, topic);
  });
  await withWorker(config, async (app) => {
    await waitThreePartitionsCommitted(app, group, topic, 3);
    // j0 is older than the version's start; j1 and j2 came after it.
    expect(app.worker.totals).toMatchObject({ consumed: 2, embedded: 2 });
  });
});

it("does not replay from its first record a partition the version started with that no worker committed yet, under startOffset latest", async () => {
  const topic = uniqueTopic("nl-partsnever");
  const { config, group } = await latestWorkerConfig(topic);
  await withAdmin("jude-test-partitions-never", async (admin) => {
    await admin.createPartitions({ topics: [{ name: topic, count: 3 }] });
    // History older than the version's start, on every partition the topic had when it started.
    await produceEvents(topic, eventsOn("j", 1000, 0, [0, 1, 2]));
    // A previous worker of a version with no bootstrap (so no operator-committed start) committed the
    // partitions it had batches of, and stopped before it was ever idle, so partition 1 has no offset.
    await commitGroupOffsets(admin, group, topic, { 0: 1n, 2: 1n });
  });
  await withWorker(config, async (app) => {
    await waitThreePartitionsCommitted(app, group, topic, 3);
    // Partition 1 was there when the version started: its record is older than the start, and
    // partition 1 is read from its end, as before, not replayed from its first record.
    expect(app.worker.totals).toMatchObject({ consumed: 0, embedded: 0 });
  });
});

it("does not replay, after a restart, the history of a partition that stayed quiet since the version's first start, under startOffset latest", async () => {
  const topic = uniqueTopic("nl-partsquiet");
  // A version with no bootstrap: nothing commits a start for it before its first worker.
  const { config, group } = await latestWorkerConfig(topic, 3);
  // History older than the version's start, on every partition.
  await produceEvents(topic, eventsOn("h", 1000, 0, [0, 1, 2]));
  await withWorker(config, async (app) => {
    // The version's first changes come on partitions 0 and 1; partition 2 stays quiet. The worker
    // stops once they are stored, possibly before it ever was idle (nothing then committed partition 2
    // but the worker's first start).
    await produceEvents(topic, eventsOn("j", 2000, 10, [0, 1]));
    await waitFor("the first changes counted", async () => app.worker.totals.consumed >= 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
  });
  // Restarted into a group with no members (a rollout, a node drain).
  await withWorker(config, async (app) => {
    await waitThreePartitionsCommitted(app, group, topic, 5);
    // Partition 2 was there when the version started: h2 is older than the start, not replayed.
    expect(app.worker.totals).toMatchObject({ consumed: 0, embedded: 0 });
  });
});

it("reads every later change and no history when two workers of a version start at once, under startOffset latest", async () => {
  const topic = uniqueTopic("nl-partstwo");
  const { config, group } = await latestWorkerConfig(topic, 2);
  await produceEvents(topic, eventsOn("h", 1000, 0, [0, 1]));
  // Both commit the version's start, or one's commit is refused because the other joined first.
  const workers = await Promise.all([startInProcessNearline(config), startInProcessNearline(config)]);
  try {
    await produceEvents(topic, eventsOn("j", 2000, 10, [0, 1]));
    const consumed = () => workers.reduce((sum, { app }) => sum + app.worker.totals.consumed, 0);
    await waitCommitted("the later changes committed and counted", group, topic, 4, () => consumed() >= 2);
    expect(consumed()).toBe(2);
  } finally {
    await Promise.all(workers.map(({ app }) => app.stop()));
    for (const { closeConnection } of workers) closeConnection();
  }
});

it("reads from a bootstrapped version's captured watermarks, not from the end, under startOffset latest", async () => {
  const topic = uniqueTopic("nl-partsboot");
  const { config, group } = await latestWorkerConfig(topic, 3);
  // The snapshot's history: one record on partitions 0 and 1; partition 2 empty when captured.
  await produceEvents(topic, eventsOn("h", 1000, 0, [0, 1]));
  // What the operator does before the version's workers first exist: commit the captured watermarks
  // (one of them 0) as the group's offsets (controllers/nearline-pipeline/start-offsets.ts).
  await withAdmin("jude-test-watermarks", (admin) =>
    commitGroupOffsets(admin, group, topic, { 0: 1n, 1: 1n, 2: 0n }),
  );
  // Changes after the snapshot, before the first worker starts: between the watermarks and the ends.
  await produceEvents(topic, eventsOn("j", 2000, 10, [0, 1, 2]));
  await withWorker(config, async (app) => {
    await waitCommitted(
      "the changes after the snapshot committed and counted",
      group,
      topic,
      5,
      () => app.worker.totals.consumed >= 3,
    );
    // Each of them, and nothing of the snapshot's history.
    expect(app.worker.totals).toMatchObject({ consumed: 3, embedded: 3 });
  });
});

it.each(["earliest", "latest"] as const)(
  "reads partitions added while its crashed static member was away (startOffset %s)",
  async (startOffset) => {
    const topic = uniqueTopic("nl-static");
    const config = await jobWorkerConfig(embedding, { topic });
    config.source.kafka.startOffset = startOffset;
    config.source.kafka.sessionTimeoutMs = 60_000;
    const group = config.source.kafka.consumerGroup;
    await withAdmin("jude-test-static", async (admin) => {
      await startAfterOneOlderEvent(admin, group, topic);
      // The worker's pod (static id pod-0) crashes: it stays in the group until its session ends.
      const member = spawn(process.execPath, [
        "test/support/kafka-static-member.ts",
        group,
        topic,
        bootstrapBrokers().join(","),
        "pod-0",
      ]);
      // One that cannot start never says "joined": the wait below fails with that.
      member.on("error", () => undefined);
      let said = "";
      member.stdout.on("data", (chunk: Buffer) => (said += chunk.toString()));
      member.stderr.on("data", (chunk: Buffer) => (said += chunk.toString()));
      try {
        await waitFor("the static member joined", async () => said.includes("joined"), {
          timeoutMs: 30_000,
          intervalMs: 100,
        });
      } finally {
        member.kill("SIGKILL");
      }
      // Partitions added and written before its restart, within the session.
      await addTwoPartitionsWithEvents(admin, topic);
    });
    const connection = connectEmbedding(config.embedding, { modelDigest: config.model.digest });
    const app = await startNearline(config, {
      logger: silentLogger(),
      embedCall: connection.call,
      isRetryableEmbedError: connection.isRetryable,
      watchTokenRefusals: connection.watchTokenRefusals,
      groupInstanceId: "pod-0",
    });
    try {
      // The restarted member is given its old assignment (partition 0) without a rebalance.
      await waitCommitted(
        "every partition committed up to its end",
        group,
        topic,
        3,
        () => app.worker.totals.consumed >= 2,
        { timeoutMs: 40_000 },
      );
      expect(app.worker.totals).toMatchObject({ consumed: 2, embedded: 2 });
    } finally {
      await app.stop();
      connection.close();
    }
  },
);

it("keeps an entity's newer update of the same event time when partitions added moved its key to a new partition", async () => {
  const topic = uniqueTopic("nl-moved");
  const { app, config, stop } = await startJobWorker(embedding, { topic });
  const group = config.source.kafka.consumerGroup;
  const admin = new Admin({ clientId: "jude-test-moved-key", bootstrapBrokers: bootstrapBrokers() });
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  // Other entities first, so the moved entity's old event sits at a higher offset (3) than its new one
  // on the added partition (0): offsets order events only within one partition.
  const before = [0, 1, 2].map((index) =>
    jobEvent(`other${index}`, 1000 + index, { title: `Engineer ${index}`, skills: [] }),
  );
  const older = { ...jobEvent("moved", 5000, { title: "Old title", skills: [] }), partition: 0 };
  // The producer's partitioner (hash of the key mod the partition count) sends the key elsewhere once
  // the count doubled: to partition 1, added. Same event time (a source with second or millisecond
  // resolution gives several changes of one row the same time), produced after the first.
  const newer = { ...jobEvent("moved", 5000, { title: "New title", skills: ["Kafka"] }), partition: 1 };
  try {
    await produceEvents(topic, [...before, older]);
    await waitCommitted("the first events committed", group, topic, 4, undefined, { intervalMs: 200 });
    await admin.createPartitions({ topics: [{ name: topic, count: 2 }] });
    await produceEvents(topic, [newer]);
    await waitFor(
      "the added partition's event committed and counted",
      async () => (await committedOffsets(group, topic)) === 5 && app.worker.totals.consumed >= 5,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const store = await openStore(redis, { name: config.sinks.store.name });
    // The newer event's text, not the older one's: the producer sent it last.
    await expectStoreMatches(store, version, expectedFinalState([...before, older, newer], version));
    expect(app.worker.totals).toMatchObject({ consumed: 5, embedded: 5, skippedStale: 0 });
  } finally {
    await redis.quit();
    await admin.close();
    await stop();
  }
});

it.each([
  // The client resumes at the log's start (offset 8): events 8 and 9 are read, 4-7 are lost.
  { startOffset: "earliest" as const, read: 2, lost: 4 },
  // The client resumes at the log's end (offset 10): 4-9 are skipped, 8 and 9 although still there.
  { startOffset: "latest" as const, read: 0, lost: 6 },
])(
  "says how many records it skipped after retention deleted its offset (startOffset $startOffset)",
  async ({ startOffset, read, lost }) => {
    const topic = uniqueTopic("nl-expired");
    const config = await jobWorkerConfig(embedding, { topic });
    config.source.kafka.startOffset = startOffset;
    const group = config.source.kafka.consumerGroup;
    const event = (index: number) =>
      jobEvent(`j${index}`, 1000 + index, { title: `Engineer ${index}`, skills: [] });
    const first = await startInProcessNearline(config);
    try {
      await produceEvents(topic, [0, 1, 2, 3].map(event));
      await waitCommitted("the first events committed", group, topic, 4, undefined, { intervalMs: 200 });
    } finally {
      await first.app.stop();
      first.closeConnection();
    }
    // While the worker is away, 6 more events arrive and retention (here: delete-records) removes the
    // log below offset 8: events 4-7 are gone before the group read them.
    await produceEvents(topic, [4, 5, 6, 7, 8, 9].map(event));
    await withAdmin("jude-test-delete-records", async (admin) => {
      await admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 8n }] }] });
    });

    await withWorker(config, async (app) => {
      // Committed up to the end: by the batch of events 8 and 9 (counted once its commit returned),
      // or (nothing to read) by the idle worker.
      await waitCommitted(
        "the group's offset at the end, its batch counted",
        group,
        topic,
        10,
        () => app.worker.totals.consumed >= read,
        { intervalMs: 200 },
      );
      expect(app.worker.totals.consumed).toBe(read);
      await waitFor("the loss reported", async () => app.worker.recordsLost === lost, {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      const metrics = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(`^jude_pipeline_source_records_lost_total\\{[^}]*partition="0"[^}]*\\} ${lost}$`, "m"),
      );
      const readyz = (await (await fetch(`http://127.0.0.1:${app.ops.port}/readyz`)).json()) as Record<
        string,
        unknown
      >;
      expect(readyz.sourceRecordsLost).toBe(lost);
    });
  },
);

it("refuses to start, naming the topic, when its dead-letter or changelog topic does not exist", async () => {
  const topic = uniqueTopic("nl-nodlq");
  await createTopics([topic], 1);
  const deadLetterTopic = `${topic}.dlq`;
  const config = nearlineConfig({
    topic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  // Without the check, the worker ran until its first undecodable event, then failed with the
  // client's "Unknown topic" (PLT_KFK_USER), with the batch stuck behind it.
  await expect(startInProcessNearline(config)).rejects.toMatchObject({
    code: "TOPIC_MISSING",
    message: expect.stringContaining(
      `dead-letter topic (sinks.deadLetter.topic) ${deadLetterTopic} does not exist`,
    ),
  });
  const missingChangelog = nearlineConfig({
    topic: uniqueTopic("nl-nochangelog"),
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  await expect(startInProcessNearline(missingChangelog)).rejects.toMatchObject({
    code: "TOPIC_MISSING",
    message: expect.stringContaining("changelog topic (source.kafka.topic)"),
  });
});

it("refuses to start when its dead-letter topic is compacted", async () => {
  const topic = uniqueTopic("nl-compactdlq");
  const deadLetterTopic = `${topic}.dlq`;
  await createTopics([topic], 1);
  await createTopics([deadLetterTopic], 1, { "cleanup.policy": "compact,delete" });
  const config = nearlineConfig({
    topic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  // Without the check, the first keyless undecodable record (a tombstone without key) made the broker
  // refuse its dead letter ("Compacted topic cannot accept message without key"): the worker failed,
  // and every restart failed on the same record. Compaction also keeps one dead letter per key.
  await expect(startInProcessNearline(config)).rejects.toMatchObject({
    code: "TOPIC_UNSUITABLE",
    message: expect.stringContaining(`dead-letter topic (sinks.deadLetter.topic) ${deadLetterTopic}`),
  });
});

it("leaves the batch uncommitted when its dead-letter topic is deleted under it, and replays it once the topic is back", async () => {
  const topic = uniqueTopic("nl-dlqgone");
  const deadLetterTopic = `${topic}.dlq`;
  const first = await startJobWorker(embedding, { topic, deadLetterTopic });
  const group = first.config.source.kafka.consumerGroup;
  const admin = new Admin({ clientId: "jude-test-dlq-deleted", bootstrapBrokers: bootstrapBrokers() });
  try {
    await produceEvents(topic, [jobEvent("j0", 1000, { title: "Engineer 0", skills: [] })]);
    await waitFor("the first event committed", async () => (await committedOffsets(group, topic)) === 1, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await admin.deleteTopics({ topics: [deadLetterTopic] });
    await produceEvents(topic, [
      { key: "bad", value: "not json{" },
      jobEvent("j1", 1001, { title: "Engineer 1", skills: [] }),
    ]);
    await waitFor(
      "the worker failed on the missing topic",
      async () => first.app.worker.failure !== undefined,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(String(first.app.worker.failure)).toContain(deadLetterTopic);
    // A lag check (every 5 s) that started after the failure: it used to commit the stream's position,
    // past the failed batch, so a restarted worker skipped both events (j1 was never stored).
    const failedAtMs = Date.now();
    await waitFor(
      "a lag check after the failure",
      async () => (first.app.worker.lagCheckedAtMs ?? 0) > failedAtMs + 5_000,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await committedOffsets(group, topic)).toBe(1);
  } finally {
    await first.stop();
    await admin.close();
  }

  await createTopics([deadLetterTopic], 1);
  const { app, closeConnection } = await startInProcessNearline(first.config);
  try {
    await waitFor(
      "the failed batch replayed and committed",
      async () => (await committedOffsets(group, topic)) === 3,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(app.worker.totals).toMatchObject({ consumed: 2, embedded: 1, deadLettered: 1 });
    const [deadLetter] = await readTopic(deadLetterTopic, 1);
    expect(deadLetter).toMatchObject({
      key: "bad",
      headers: { "jude.error.code": expect.any(String), "jude.error.reason": expect.stringMatching(/\w/) },
    });
  } finally {
    await app.stop();
    closeConnection();
  }
});
