/**
 * Every sink at least once through faults that strike a batch at a known step (issue 14). A batch
 * goes: embedded -> output produced and acknowledged -> store written -> offsets committed. The tests
 * hold one batch at a step (test/e2e/fixtures/nearline-held.ts, or the in-process hook), strike there,
 * and end only when every changelog record is committed; then the store must equal, and the output
 * topic must contain exactly, what an independent model of the contract computes
 * (test/support/nearline-oracle.ts), with the embedding of each independently rendered text.
 * The restarted worker reuses the killed one's pod name (static membership); the time from its spawn
 * to its first offset commit (seen in Kafka's committed offsets) is reported and must stay well under
 * the session timeout, which is set long so that only static membership can make it.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNearline } from "../../pipelines/nearline/app.ts";
import type { BatchStep } from "../../pipelines/nearline/processor.ts";
import { EmbeddingClient } from "../../pipelines/embedding-client/client.ts";
import { connectEmbedding } from "../../pipelines/shared/embed-client.ts";
import { connectRedis, openStore, StoreWriter, type RedisClient, type Store } from "../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../support/embedding-server.ts";
import { requireEnv } from "../support/env.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  uniqueTopic,
  type TestEvent,
} from "../support/kafka.ts";
import { jobEvent, nearlineConfig } from "../support/nearline.ts";
import { metricSum, startHeldWorker, startWorker } from "../support/nearline-processes.ts";
import { expectSinksExact } from "../support/nearline-sinks.ts";
import { stopJude, waitReady, type JudeProcess } from "../support/processes.ts";
import { restart as restartComponent, stop as stopComponent } from "../testbed/index.ts";
import { stateDir } from "../testbed/paths.ts";
import { freePort } from "../testbed/ports.ts";
import { waitFor } from "../testbed/wait.ts";

const version = "minilm-v1";
const keys = 90;
const chunkSize = 180;
/**
 * The workers' consumer session timeout, long on purpose: without static membership a restarted
 * worker gets no partitions until the dead member's session expires (the rebalance timeout is never
 * shorter), i.e. about this long after the kill; with it, its first commit comes after Node's start-up.
 */
const sessionTimeoutMs = 60_000;

let embedding: TestEmbeddingServer;
let client: EmbeddingClient;
let redis: RedisClient;
const running: JudeProcess[] = [];

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  client = new EmbeddingClient({ address: embedding.address });
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => stopJude(process, "SIGKILL")));
});
afterAll(async () => {
  client?.close();
  await redis?.quit();
  await embedding?.server.close();
});

/** Updates (about half of them no-ops for their key), deletes and re-creates over a fixed key set, event times rising. */
function changelog(chunk: number): TestEvent[] {
  return Array.from({ length: chunkSize }, (_, index) => {
    const sequence = chunk * chunkSize + index;
    const id = `job-${(sequence * 7919) % keys}`;
    const time = 10_000 + sequence;
    if (sequence % 17 === 0) return jobEvent(id, time, { op: "d" });
    return jobEvent(id, time, {
      title: `Engineer rev ${Math.floor(sequence / 180) % 40}`,
      company: "Acme",
      skills: ["Go", "Kafka"],
    });
  });
}

interface Pipeline {
  topic: string;
  outputTopic: string;
  group: string;
  configFile: string;
  port: number;
  /** The store, opened on first use (the first worker creates it). */
  store: () => Promise<Store>;
  config: ReturnType<typeof nearlineConfig>;
}

async function pipeline(name: string): Promise<Pipeline> {
  const topic = uniqueTopic(`nl-sink-${name}`);
  const outputTopic = `${topic}-out`;
  await createTopics([topic, outputTopic], 3);
  const port = await freePort();
  const config = nearlineConfig({
    topic,
    outputTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
    maxEvents: 48,
  });
  config.source.kafka.sessionTimeoutMs = sessionTimeoutMs;
  const configFile = join(stateDir(), `nearline-${topic}.json`);
  writeFileSync(configFile, JSON.stringify({ ...config, http: { port } }));
  let opened: Promise<Store> | undefined;
  const store = () => (opened ??= openStore(redis, { name: config.sinks.store.name }));
  return { topic, outputTopic, group: config.source.kafka.consumerGroup, configFile, port, store, config };
}

const sinksOf = async (p: Pipeline) => ({
  topic: p.topic,
  outputTopic: p.outputTopic,
  group: p.group,
  store: await p.store(),
  version,
  modelDigest: embedding.digest,
  client,
});

/** The worker's own figures of its first offset commit, from its log (ms since process start / group join). */
async function firstCommitFigures(
  worker: JudeProcess,
): Promise<{ msSinceProcessStart: number; msSinceGroupJoin: number }> {
  let figure: { msSinceProcessStart: number; msSinceGroupJoin: number } | undefined;
  await waitFor(
    "the worker to log its first commit",
    () => {
      // The log file is appended to across runs: take this process's line.
      const line = readFileSync(worker.logFile, "utf8")
        .split("\n")
        .find(
          (each) => each.includes('"first offsets committed"') && each.includes(`"pid":${worker.child.pid},`),
        );
      figure = line === undefined ? undefined : (JSON.parse(line) as typeof figure);
      return figure !== undefined;
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return figure!;
}

/** Stored metadata of every key of the changelog (null where nothing is stored). */
async function storedKeys(p: Pipeline): Promise<number> {
  const ids = Array.from({ length: keys }, (_, index) => ({ entity: "job", id: `job-${index}` }));
  return (await new StoreWriter(await p.store()).readMeta(version, ids)).filter((meta) => meta !== null)
    .length;
}

describe("nearline sinks through faults at a known step of a batch", () => {
  it.each<BatchStep>(["produced", "stored"])(
    "kill -9 while a batch is held at '%s': a restart under the same pod name commits within seconds, both sinks end exact",
    async (step) => {
      const p = await pipeline(`kill-${step}`);
      const podName = `nearline-${randomUUID().slice(0, 8)}`;
      const held = startHeldWorker(`kill-${step}`, p.configFile, step, podName);
      running.push(held);
      await waitReady(held, p.port);
      await produceEvents(p.topic, changelog(0));
      expect((await held.held).step).toBe(step);

      // The batch is in flight at the step: its output is acknowledged, nothing is committed, and the
      // store holds it only once the step is "stored".
      expect(await committedOffsets(p.group, p.topic)).toBe(0);
      const stored = await storedKeys(p);
      if (step === "produced") expect(stored).toBe(0);
      else expect(stored).toBeGreaterThan(0);

      await stopJude(held, "SIGKILL");
      const killedAt = Date.now();
      await produceEvents(p.topic, changelog(1));
      const spawnedAt = Date.now();
      const restarted = startWorker(`kill-${step}-restarted`, p.configFile, podName);
      running.push(restarted);
      await waitFor(
        "the restarted worker's first commit",
        async () => (await committedOffsets(p.group, p.topic)) > 0,
        { timeoutMs: sessionTimeoutMs + 30_000, intervalMs: 25 },
      );
      const committedAt = Date.now();
      const own = await firstCommitFigures(restarted);
      process.stdout.write(
        `nearline restart (kill -9 at ${step}): first commit ${committedAt - spawnedAt} ms after spawn (${committedAt - killedAt} ms after the kill); ` +
          `the worker's own figures: ${own.msSinceProcessStart} ms after its process start, ${own.msSinceGroupJoin} ms after it began to join the group ` +
          `(session timeout ${sessionTimeoutMs} ms)\n`,
      );
      // Without static membership the first commit cannot come before the dead member's session
      // expires, sessionTimeoutMs after the kill (measured 19.9 s with a 20 s session before static
      // membership). Three quarters of it leaves Node's start-up room on a loaded machine (2-5 s at
      // load 8, up to 36 s seen at load 20) while no dynamic rejoin can get under it.
      expect(committedAt - killedAt).toBeLessThan(sessionTimeoutMs * 0.75);
      // The restarted member got its partitions back at once: the rest is process start-up.
      expect(own.msSinceGroupJoin).toBeLessThan(sessionTimeoutMs / 4);

      const report = await expectSinksExact(await sinksOf(p));
      process.stdout.write(`nearline kill -9 at ${step}: ${JSON.stringify(report)}\n`);
      if (step === "produced") expect(report.duplicates).toBeGreaterThan(0); // the held batch was produced twice
    },
  );

  it("broker stopped while a batch's output produce is in flight, then while its offset commit is, then while idle", async () => {
    const p = await pipeline("broker");
    const connection = connectEmbedding(p.config.embedding, { modelDigest: p.config.model.digest });
    let holdAt: BatchStep | undefined;
    let held = Promise.withResolvers<void>();
    let release = Promise.withResolvers<void>();
    // The worker's log goes to a file whose tail a failure reports: an outage test that times out
    // must say where the worker stood (retrying, rejoining, failed), not only that it timed out.
    const logFile = join(stateDir(), "logs", `nearline-sink-broker-${process.pid}.log`);
    const app = await startNearline(p.config, {
      logger: pino({ level: "info" }, pino.destination({ dest: logFile, sync: true, mkdir: true })),
      embedCall: connection.call,
      isRetryableEmbedError: connection.isRetryable,
      atStep: async (step, batch) => {
        if (step !== holdAt || batch.produced === 0) return;
        holdAt = undefined;
        held.resolve();
        await release.promise;
      },
    });
    const kafkaRetries = async () =>
      metricSum(await app.registry.metrics(), "jude_pipeline_retries_total", 'dependency="kafka"');
    /** Holds the next batch at `step`, stops the broker, lets the batch go on, waits until it hit the outage. */
    const outageAt = async (step: BatchStep, chunk: number) => {
      holdAt = step;
      held = Promise.withResolvers<void>();
      release = Promise.withResolvers<void>();
      await produceEvents(p.topic, changelog(chunk));
      await held.promise;
      const before = await kafkaRetries();
      await stopComponent("kafka");
      release.resolve();
      await waitFor(
        `the batch held at ${step} to retry on the stopped broker`,
        async () => (await kafkaRetries()) > before,
        {
          timeoutMs: 60_000,
          intervalMs: 100,
        },
      );
    };
    /** Waits until the first `chunks` chunks are committed; a timeout carries the worker's last log lines. */
    const chunksCommitted = (chunks: number) =>
      withLogTail(
        logFile,
        waitFor(
          `chunk ${chunks - 1} committed`,
          async () => (await committedOffsets(p.group, p.topic)) === chunks * chunkSize,
          { timeoutMs: 120_000, intervalMs: 250 },
        ),
      );
    try {
      await outageAt("embedded", 0);
      // The output is not acknowledged, so nothing of the batch may be visible in the store yet.
      expect(await storedKeys(p)).toBe(0);
      expect(app.worker.totals.batches).toBe(0);
      await restartComponent("kafka");
      await chunksCommitted(1);

      await outageAt("stored", 1);
      await restartComponent("kafka");
      await chunksCommitted(2);

      // Idle, its stream long-polling: the client gives up on the stream during the outage (a fetch
      // fails past its own retries) and the worker opens a new one where it stood once the broker is back.
      const before = await kafkaRetries();
      await stopComponent("kafka");
      await waitFor(
        "the idle worker to notice the stopped broker",
        async () => (await kafkaRetries()) > before,
        {
          timeoutMs: 60_000,
          intervalMs: 100,
        },
      );
      await restartComponent("kafka");
      await produceEvents(p.topic, changelog(2));
      await chunksCommitted(3);
      const report = await withLogTail(logFile, sinksOf(p).then(expectSinksExact));
      process.stdout.write(`nearline broker outages: ${JSON.stringify(report)}\n`);
    } finally {
      release.resolve();
      await app.stop();
      connection.close();
    }
  });
});

/** Resolves as `work` does; a failure carries the last lines of the worker's log file. */
async function withLogTail<T>(logFile: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const tail = readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-25).join("\n");
    throw new Error(`${(error as Error).message}\nworker log (last lines):\n${tail}`, { cause: error });
  }
}
