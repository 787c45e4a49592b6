/**
 * A Kafka broker restart while a promotion's two versions write: v1's and v2's workers (two consumer
 * groups on one changelog) write their version's keys in one store. The broker goes away for both at
 * once between batches (refused, then hung), for v1 alone while its batch produces its output records, and for v2 alone
 * while its batch commits its offsets; the store's Redis restarts too. Once everything is back, for
 * BOTH versions every key holds its newest event (no lost update, no resurrected delete, no older
 * vector winning) and the output topic every applied change (nearline-sinks.ts), the dead-letter
 * topic nothing (every event decodes), every record is committed, and the waits were said:
 * jude_pipeline_retries_total{dependency="kafka"} and /readyz `waitingOn`.
 *
 * Each worker reaches the broker through a TCP link of its own, behind a proxy that advertises the
 * link as the broker (Kafka hands its clients the broker's own address in metadata and coordinator
 * answers; without the rewrite a client would bypass the link after its first call). A cut closes
 * the link: connections reset, new ones refused, as a broker restarting; a restore listens again.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { BatchStep } from "../../../pipelines/nearline/processor.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  bootstrapBrokers,
  createTopics,
  produceEvents,
  readAll,
  uniqueTopic,
  type TestEvent,
} from "../../support/kafka.ts";
import {
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { workerMetric } from "../../support/nearline-processes.ts";
import { expectSinksExact } from "../../support/nearline-sinks.ts";
import { startAdvertisingProxy, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";

const deps = useOwnedRedisAndEmbedding("kafka-restart-v1");

/** One version's worker on the shared changelog and store, reaching Kafka through its own link. */
async function startVersionWorker(options: {
  embedding: TestEmbeddingServer;
  topic: string;
  storeName: string;
}) {
  const { embedding, topic, storeName } = options;
  const outputTopic = uniqueTopic(`nl-krestart-out-${embedding.version}`);
  const deadLetterTopic = uniqueTopic(`nl-krestart-dead-${embedding.version}`);
  await createTopics([outputTopic, deadLetterTopic], 1);
  const [brokerHost, brokerPort] = bootstrapBrokers()[0]!.split(":");
  let link: TcpLink | undefined;
  const proxy = await startAdvertisingProxy(
    { host: brokerHost!, port: Number(brokerPort) },
    () => link!.port,
  );
  link = await startTcpLink({ host: "127.0.0.1", port: proxy.port });
  const linkPort = link.port;
  const base = nearlineConfig({
    topic,
    outputTopic,
    deadLetterTopic,
    storeName,
    storeUrl: deps.redis.url,
    version: embedding.version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
    maxEvents: 8,
  });
  const config = {
    ...base,
    source: {
      ...base.source,
      kafka: {
        ...base.source.kafka,
        bootstrapServers: [`127.0.0.1:${linkPort}`],
        consumerGroup: `${topic}-${embedding.version}`,
      },
    },
  };
  /** A cut to make once, when a batch reaches `step`. */
  let cutAt: BatchStep | undefined;
  const cut = async () => {
    await link?.close();
    link = undefined;
  };
  const { app, closeConnection } = await startInProcessNearline(config, silentLogger(), {
    drainMs: 2_000,
    atStep: async (step) => {
      if (step !== cutAt) return;
      cutAt = undefined;
      await cut();
    },
  });
  const waitingOn: string[] = [];
  return {
    app,
    config,
    outputTopic,
    deadLetterTopic,
    cut,
    cutWhenBatchAt: (step: BatchStep) => (cutAt = step),
    isCut: () => link === undefined,
    /** The broker hangs: connections stay open, nothing passes (a partition), until `thaw`. */
    freeze: () => link!.freeze(),
    thaw: () => link!.thaw(),
    /** /readyz's lag figure (undefined: unknown). */
    lag: async () =>
      (
        JSON.parse((await probe(`http://127.0.0.1:${app.ops.port}/readyz`)).body) as {
          lag?: { total: number };
        }
      ).lag?.total,
    restore: async () => {
      link = await startTcpLink({ host: "127.0.0.1", port: proxy.port }, linkPort);
    },
    kafkaRetries: () => workerMetric(app.ops.port, "jude_pipeline_retries_total", 'dependency="kafka"'),
    /** Records `waitingOn.dependency` from /readyz; true once it named Kafka. */
    saysWaitingOnKafka: async () => {
      const body = JSON.parse((await probe(`http://127.0.0.1:${app.ops.port}/readyz`)).body) as {
        waitingOn?: { dependency: string };
      };
      if (body.waitingOn) waitingOn.push(body.waitingOn.dependency);
      return body.waitingOn?.dependency === "kafka";
    },
    stop: async () => {
      await app.stop();
      closeConnection();
      await link?.close();
      await proxy.close();
    },
  };
}

type VersionWorker = Awaited<ReturnType<typeof startVersionWorker>>;

/** Waits until `worker` counted more Kafka retries than `before`. */
async function untilWaitSaid(worker: VersionWorker, before: number, what: string): Promise<void> {
  await waitFor(`${what}: retries on kafka`, async () => (await worker.kafkaRetries()) > before, {
    timeoutMs: 90_000,
    intervalMs: 100,
  });
}

/** Updates (`round` in the title) of `ids` at times from `firstTime`. */
const updates = (ids: readonly string[], firstTime: number, round: string): TestEvent[] =>
  ids.map((id, index) =>
    jobEvent(id, firstTime + index, {
      title: `Engineer ${id} ${round}`,
      company: "Acme",
      skills: ["go", round],
    }),
  );

it("both versions end with every key's newest event after Kafka restarts mid-stream", async () => {
  const topic = uniqueTopic("nl-krestart");
  await createTopics([topic], 1);
  const storeName = `nl-krestart-${randomUUID().slice(0, 8)}`;
  const v2Embedding = await startTestEmbeddingServer("kafka-restart-v2");
  const workers = [
    await startVersionWorker({ embedding: deps.embedding, topic, storeName }),
    await startVersionWorker({ embedding: v2Embedding, topic, storeName }),
  ] as const;
  const [v1, v2] = workers;
  const ids = Array.from({ length: 12 }, (_, index) => `j${index}`);
  const consumedAll = async (count: number) =>
    workers.every((worker) => worker.app.worker.totals.consumed >= count);
  try {
    await produceEvents(topic, updates(ids, 1_000, "r1"));
    await waitFor("both versions to consume the first round", () => consumedAll(12), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });

    // 1. The broker goes away for both at once, between batches; the changelog goes on meanwhile.
    const before1 = await Promise.all(workers.map((worker) => worker.kafkaRetries()));
    await Promise.all(workers.map((worker) => worker.cut()));
    await produceEvents(topic, [
      ...updates(ids.slice(0, 6), 2_000, "r2"),
      jobEvent("j6", 2_100, { op: "d" }),
      jobEvent("j7", 2_101, { op: "d" }),
      // Older than j0's r2: must lose in both versions.
      jobEvent("j0", 1_500, { title: "Stale", company: "Old", skills: [] }),
    ]);
    await Promise.all(workers.map((worker, index) => untilWaitSaid(worker, before1[index]!, "both cut")));
    await Promise.all(workers.map((worker) => worker.restore()));

    // 1b. The broker hangs for both (nothing answers; the client's requests wait out their timeouts
    // and retries, minutes): their lag figure, 0 before the hang, must not stand while records wait.
    await waitFor("both versions to consume the second round", () => consumedAll(21), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    for (const worker of workers)
      await waitFor("a lag figure of 0", async () => (await worker.lag()) === 0, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    for (const worker of workers) worker.freeze();
    await produceEvents(topic, [
      ...updates(["j0", "j5", "j7"], 2_500, "r2b"),
      jobEvent("j5", 2_600, { op: "d" }),
    ]);
    await Promise.all(
      workers.map((worker) =>
        waitFor("a hung worker's lag figure to stop saying 0", async () => (await worker.lag()) !== 0, {
          timeoutMs: 75_000,
          intervalMs: 500,
        }),
      ),
    );
    for (const worker of workers) worker.thaw();

    // 2. v1 alone loses the broker while its batch produces its output records.
    await waitFor("both versions to consume the hung round", () => consumedAll(25), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const before2 = await v1.kafkaRetries();
    v1.cutWhenBatchAt("embedded");
    await produceEvents(topic, [
      ...updates(["j1", "j2", "j6"], 3_000, "r3"),
      jobEvent("j3", 3_100, { op: "d" }),
      { key: "j4", value: null },
    ]);
    await waitFor("v1's batch to meet the cut", () => v1.isCut(), { timeoutMs: 120_000, intervalMs: 50 });
    await untilWaitSaid(v1, before2, "v1 cut at its output");
    await waitFor("v1's /readyz to name kafka", () => v1.saysWaitingOnKafka(), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    // v2 goes on meanwhile.
    await waitFor("v2 to consume the third round", () => v2.app.worker.totals.consumed >= 30, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    await v1.restore();

    // 3. v2 alone loses the broker while its batch commits its offsets.
    await waitFor("v1 to consume the third round", () => v1.app.worker.totals.consumed >= 30, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const before3 = await v2.kafkaRetries();
    v2.cutWhenBatchAt("stored");
    await produceEvents(topic, [
      ...updates(["j0", "j7", "j8"], 4_000, "r4"),
      jobEvent("j9", 4_100, { op: "d" }),
    ]);
    await waitFor("v2's batch to meet the cut", () => v2.isCut(), { timeoutMs: 120_000, intervalMs: 50 });
    await untilWaitSaid(v2, before3, "v2 cut at its commit");
    await waitFor("v2's /readyz to name kafka", () => v2.saysWaitingOnKafka(), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    await v2.restore();

    // 4. The store's Redis restarts while both write.
    await waitFor("both versions to consume the fourth round", () => consumedAll(34), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    await deps.redis.kill();
    await produceEvents(topic, [
      ...updates(["j1", "j9", "j10"], 5_000, "r5"),
      jobEvent("j11", 5_100, { op: "d" }),
    ]);
    await waitFor(
      "both to retry on the store",
      async () =>
        (
          await Promise.all(
            workers.map((worker) =>
              workerMetric(worker.app.ops.port, "jude_pipeline_retries_total", 'dependency="store"'),
            ),
          )
        ).every((count) => count > 0),
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    await deps.redis.restart();

    const redis = connectRedis({ url: deps.redis.url });
    try {
      const store = await openStore(redis, { name: storeName });
      for (const [worker, embedding] of [
        [v1, deps.embedding],
        [v2, v2Embedding],
      ] as const) {
        const client = new EmbeddingClient({ address: embedding.address });
        try {
          // Lag 0 (every record committed), the store's newest-wins state, every applied change published.
          await expectSinksExact({
            topic,
            outputTopic: worker.outputTopic,
            group: worker.config.source.kafka.consumerGroup,
            store,
            version: embedding.version,
            modelDigest: embedding.digest,
            client,
          });
        } finally {
          client.close();
        }
        // Every event decodes: a batch retried on an unreachable broker dead-letters nothing.
        expect(await readAll(worker.deadLetterTopic)).toEqual([]);
      }
    } finally {
      await redis.quit();
    }
  } finally {
    for (const worker of workers) await worker.stop();
    await v2Embedding.server.close();
  }
});
