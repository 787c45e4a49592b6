/**
 * Scaling and re-tuning a running pipeline, as its Deployment rolls it (maxSurge 1, maxUnavailable 0,
 * SIGTERM then the grace period): real `jude nearline` processes of one group go 1 -> 3 -> 1 while
 * events keep coming, the removed ones drained by SIGTERM, and then a batching and session-timeout
 * change is rolled the same way (the new worker joins before the old one drains and leaves). Every
 * key's newest change is stored and published (test/support/nearline-oracle.ts), each drain exits 0
 * with its batch committed, nothing is dead-lettered, and the group ends with no lag.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { connectRedis, openStore, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  recordCount,
  uniqueTopic,
  type TestEvent,
} from "../../support/kafka.ts";
import { jobEvent, nearlineConfig } from "../../support/nearline.ts";
import { metricSum, startWorker, workerMetric } from "../../support/nearline-processes.ts";
import { expectSinksExact } from "../../support/nearline-sinks.ts";
import { stopJude, waitReady, type JudeProcess } from "../../support/processes.ts";
import { probe } from "../../testbed/http-probe.ts";
import { stateDir } from "../../testbed/paths.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "scale-v1";
let embedding: TestEmbeddingServer;
let client: EmbeddingClient;
let redis: RedisClient;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  client = new EmbeddingClient({ address: embedding.address });
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  redis?.disconnect();
  client?.close();
  await embedding?.server.close();
});

const running: JudeProcess[] = [];
const configFiles: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => stopJude(worker, "SIGKILL")));
  for (const file of configFiles.splice(0)) rmSync(file, { force: true });
});

/** Changes to 10 of 30 jobs a round, in turn: updates, some unchanged, every seventh a delete. */
function changelogRound(round: number): TestEvent[] {
  return Array.from({ length: 10 }, (_, offset) => {
    const index = ((round % 3) * 10 + offset) % 30;
    const id = `j${index}`;
    const time = 1_000_000 + round * 100 + index;
    if ((round + index) % 7 === 0) return jobEvent(id, time, { op: "d" });
    // Every other turn of a job repeats its text: an unchanged upsert.
    const turn = Math.floor(round / 3);
    const title = `Engineer ${index} t${turn - (turn % 2)}`;
    return jobEvent(id, time, { title, company: "Acme", skills: ["go"] });
  });
}

it("loses nothing while workers are scaled 1 -> 3 -> 1 and re-tuned with events flowing", async () => {
  const topic = uniqueTopic("nl-scale");
  const outputTopic = uniqueTopic("nl-scale-out");
  const deadLetterTopic = uniqueTopic("nl-scale-dlq");
  await createTopics([topic, outputTopic, deadLetterTopic], 6);
  const base = nearlineConfig({
    topic,
    outputTopic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
    maxEvents: 16,
  });
  const group = base.source.kafka.consumerGroup;
  /** One worker process of the group on its own ops port, with `tune` applied to its config. */
  const start = async (name: string, tune: (config: typeof base) => typeof base = (config) => config) => {
    const port = await freePort();
    const configFile = join(stateDir(), `nearline-${topic}-${name}.json`);
    writeFileSync(configFile, JSON.stringify({ ...tune(base), http: { port } }));
    configFiles.push(configFile);
    const worker = startWorker(`${topic}-${name}`, configFile);
    running.push(worker);
    await waitReady(worker, port);
    return { worker, port };
  };
  /** Waits until the group committed everything produced before the call (more keeps coming). */
  const caughtUp = async (what: string) => {
    const total = await recordCount(topic);
    await waitFor(what, async () => (await committedOffsets(group, topic)) >= total, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
  };

  // Events flow the whole time, one round after another, until the last roll is done.
  let producing = true;
  let round = 0;
  const producer = (async () => {
    while (producing) {
      await produceEvents(topic, changelogRound(round++));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    const first = await start("a");
    await caughtUp("the first worker to commit the first rounds");

    // Scale up: two more workers join and the partitions are spread over three.
    const second = await start("b");
    const third = await start("c");
    // Each of them takes partitions of its own and works on them while events keep coming.
    await waitFor(
      "each of the three workers to consume",
      async () =>
        (
          await Promise.all(
            [first, second, third].map(({ port }) => workerMetric(port, "jude_pipeline_consumed_total")),
          )
        ).every((consumed) => consumed > 0),
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    await caughtUp("three workers to commit what came meanwhile");

    // Scale down: the removed workers drain (batch in hand written and committed) and exit 0.
    expect(await Promise.all([stopJude(second.worker), stopJude(third.worker)])).toEqual([0, 0]);
    await caughtUp("the remaining worker to take their partitions");

    // A batching and session-timeout change rolled as the Deployment rolls it: the new worker joins
    // (maxSurge 1) before the old one drains and leaves.
    const retuned = await start("d", (config) => ({
      ...config,
      batching: { maxEvents: 4, lingerMs: 50 },
      source: { kafka: { ...config.source.kafka, sessionTimeoutMs: 30_000 } },
    }));
    expect(await stopJude(first.worker)).toBe(0);
    await caughtUp("the re-tuned worker to take every partition");
    producing = false;
    await producer;

    const store = await openStore(redis, { name: base.sinks.store.name });
    const report = await expectSinksExact({
      topic,
      outputTopic,
      group,
      store,
      version,
      modelDigest: embedding.digest,
      client,
    });
    expect(report.applied).toBeGreaterThan(0);
    expect(await recordCount(deadLetterTopic)).toBe(0);
    expect(await workerMetric(retuned.port, "jude_pipeline_source_records_lost_total")).toBe(0);
    // A lag measured on every partition (a series each), all of it 0; no series is no measure at all.
    await waitFor(
      "the re-tuned worker to measure no lag on any partition",
      async () => {
        const { body } = await probe(`http://127.0.0.1:${retuned.port}/metrics`);
        const series = body.split("\n").filter((line) => line.startsWith("jude_pipeline_consumer_lag{"));
        return series.length === 6 && metricSum(body, "jude_pipeline_consumer_lag") === 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(await stopJude(retuned.worker)).toBe(0);
  } finally {
    producing = false;
    await producer.catch(() => undefined);
  }
});
