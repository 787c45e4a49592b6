/**
 * Nearline fault tolerance with every part real and separate: the worker and the embedding server run
 * as `jude` child processes, Kafka and Redis are the testbed's. Each test streams a changelog, injects
 * one fault mid-stream, and ends only when the store equals the expected final state for every key
 * (computed by the independent model in test/support/nearline-oracle.ts). Each fault is shown to have
 * hit a batch in flight: outages last until the worker's retry metrics moved, SIGTERM comes while a
 * batch is held in hand, a rebalance hands work to a worker that then does some. Kill -9 and broker
 * outages at each step of a batch, with the output topic checked too: nearline-sink-faults.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  connectRedis,
  openStore,
  readSourceOffsets,
  StoreWriter,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import { requireEnv } from "../support/env.ts";
import {
  committedByPartition,
  committedOffsets,
  createTopics,
  offsetSourceOf,
  produceEvents,
  uniqueTopic,
  type TestEvent,
} from "../support/kafka.ts";
import { expectedFinalState, jobEvent, nearlineConfig } from "../support/nearline.ts";
import {
  startHeldWorker,
  startWorker as startWorkerProcess,
  workerMetric,
} from "../support/nearline-processes.ts";
import { startJude, stopJude, waitReady, type JudeProcess } from "../support/processes.ts";
import { EmbeddingClient } from "../../pipelines/embedding-client/client.ts";
import { restart as restartComponent, stop as stopComponent } from "../testbed/index.ts";
import { stateDir } from "../testbed/paths.ts";
import { freePort } from "../testbed/ports.ts";
import { waitFor } from "../testbed/wait.ts";

const version = "minilm-v1";
const keys = 300;
const eventsPerChunk = 400;

let server: JudeProcess;
let serverPort: number;
let serverHttpPort: number;
let servedDigest: string;
let redis: RedisClient;

async function startServer(): Promise<JudeProcess> {
  const process = startJude("embedding-server", [
    "serve",
    "--model-dir",
    requireEnv("JUDE_MODEL_DIR"),
    "--model-version",
    version,
    "--host",
    "127.0.0.1",
    "--grpc-port",
    String(serverPort),
    "--http-port",
    String(serverHttpPort),
    "--execution-provider",
    "cpu",
    "--intra-op-threads",
    "1",
  ]);
  await waitReady(process, serverHttpPort);
  return process;
}

beforeAll(async () => {
  serverPort = await freePort();
  serverHttpPort = await freePort();
  server = await startServer();
  const client = new EmbeddingClient({ address: `127.0.0.1:${serverPort}` });
  servedDigest = (await client.embed(["digest probe"])).model.digest;
  client.close();
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  await stopJude(server);
  await redis?.quit();
});

/** A changelog chunk: updates (some no-op), deletes and re-creates over a fixed key set. */
function changelogChunk(chunk: number): TestEvent[] {
  return Array.from({ length: eventsPerChunk }, (_, index) => {
    const sequence = chunk * eventsPerChunk + index;
    const id = `job-${(sequence * 7919) % keys}`;
    const time = 10_000 + sequence;
    if (sequence % 23 === 0) return jobEvent(id, time, { op: "d" });
    const revision = sequence % 3 === 0 ? Math.floor(sequence / 3) : Math.floor((sequence - 1) / 3);
    return jobEvent(id, time, {
      title: `Engineer rev ${revision % 50}`,
      company: "Acme",
      skills: ["Go", "Kafka"],
    });
  });
}

interface Scenario {
  topic: string;
  store: Store;
  worker: JudeProcess;
  workerPort: number;
  configFile: string;
  events: TestEvent[];
}

const running: JudeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => stopJude(process, "SIGKILL")));
});

async function startScenario(name: string): Promise<Scenario> {
  const topic = uniqueTopic(`nl-fault-${name}`);
  await createTopics([topic], 3);
  const workerPort = await freePort();
  const config = nearlineConfig({
    topic,
    version,
    digest: servedDigest,
    embeddingAddress: `127.0.0.1:${serverPort}`,
    maxEvents: 64,
  });
  const configFile = join(stateDir(), `nearline-${topic}.json`);
  writeFileSync(configFile, JSON.stringify({ ...config, http: { port: workerPort } }));
  const worker = startWorker(configFile, name);
  await waitReady(worker, workerPort);
  const store = await openStore(redis, { name: config.sinks.store.name });
  return { topic, store, worker, workerPort, configFile, events: [] };
}

function startWorker(configFile: string, name: string): JudeProcess {
  const worker = startWorkerProcess(name, configFile);
  running.push(worker);
  return worker;
}

/** The same pipeline config for a second worker of the group, on its own ops port. */
async function writeSecondConfig(scenario: Scenario): Promise<number> {
  const port = await freePort();
  const config = JSON.parse(readFileSync(scenario.configFile, "utf8")) as { http: { port: number } };
  writeFileSync(
    scenario.configFile.replace(/\.json$/, "-b.json"),
    JSON.stringify({ ...config, http: { port } }),
  );
  return port;
}

async function produceChunk(scenario: Scenario, chunk: number): Promise<void> {
  const events = changelogChunk(chunk);
  scenario.events.push(...events);
  await produceEvents(scenario.topic, events);
}

/** Waits until the worker retried a batch (or a store write) on `dependency` since `before`. */
async function waitForRetries(scenario: Scenario, dependency: string, before: number): Promise<number> {
  let now = before;
  await waitFor(
    `the worker to retry on ${dependency}`,
    async () => (now = await retriesOn(scenario, dependency)) > before,
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  return now;
}

async function retriesOn(scenario: Scenario, dependency: string): Promise<number> {
  const batchRetries = await workerMetric(
    scenario.workerPort,
    "jude_pipeline_retries_total",
    `dependency="${dependency}"`,
  );
  const writeRetries =
    dependency === "store" ? await workerMetric(scenario.workerPort, "jude_store_write_retries_total") : 0;
  return batchRetries + writeRetries;
}

/** Waits until every key in the store has its expected final state. */
async function expectConverged(scenario: Scenario): Promise<void> {
  const expected = expectedFinalState(scenario.events, version);
  const ids = [...expected.keys()];
  const writer = new StoreWriter(scenario.store);
  let mismatches = ids.length;
  await waitFor(
    "the store to reach the expected final state",
    async () => {
      const metas = await writer.readMeta(
        version,
        ids.map((id) => ({ entity: "job", id })),
      );
      mismatches = ids.filter(
        (id, index) => (metas[index]?.live ? metas[index]!.contentHash : null) !== expected.get(id),
      ).length;
      return mismatches === 0;
    },
    { timeoutMs: 240_000, intervalMs: 500 },
  );
  expect(mismatches).toBe(0);
}

describe("nearline worker under faults (store ends exact, nothing lost)", () => {
  it("survives a Redis restart mid-stream", async () => {
    const scenario = await startScenario("redis");
    await produceChunk(scenario, 0);
    const before = await retriesOn(scenario, "store");
    await stopComponent("redis");
    await produceChunk(scenario, 1);
    // The outage lasts until a batch in flight has hit it.
    expect(await waitForRetries(scenario, "store", before)).toBeGreaterThan(before);
    await restartComponent("redis");
    await produceChunk(scenario, 2);
    await produceChunk(scenario, 3);
    await expectConverged(scenario);
  });

  it("survives an embedding server restart mid-stream", async () => {
    const scenario = await startScenario("server");
    await produceChunk(scenario, 0);
    const before = await retriesOn(scenario, "embedding");
    await stopJude(server, "SIGKILL");
    await produceChunk(scenario, 1);
    await produceChunk(scenario, 2);
    expect(await waitForRetries(scenario, "embedding", before)).toBeGreaterThan(before);
    server = await startServer();
    await produceChunk(scenario, 3);
    await expectConverged(scenario);
  });

  it("hands partitions over on rebalances without losing work (a second worker joins, the first leaves)", async () => {
    const scenario = await startScenario("rebalance");
    await produceChunk(scenario, 0);
    const secondPort = await writeSecondConfig(scenario);
    const second = startWorker(scenario.configFile.replace(/\.json$/, "-b.json"), "rebalance-second");
    await waitReady(second, secondPort);
    await produceChunk(scenario, 1);
    await produceChunk(scenario, 2);
    expect(await stopJude(scenario.worker, "SIGTERM")).toBe(0);
    await produceChunk(scenario, 3);
    await expectConverged(scenario);
    // The joiner really took partitions over and worked on them.
    expect(await workerMetric(secondPort, "jude_pipeline_consumed_total")).toBeGreaterThan(0);
  });

  it("drains on SIGTERM: finishes and commits the batch in hand, exits 0", async () => {
    const scenario = await startScenario("sigterm");
    // Only the held worker of this scenario's group consumes: stop the plain one first (nothing sent yet).
    expect(await stopJude(scenario.worker, "SIGTERM")).toBe(0);
    const held = startHeldWorker("sigterm-held", scenario.configFile, "embedded");
    running.push(held);
    await waitReady(held, scenario.workerPort);
    await produceChunk(scenario, 0);
    const { events } = await held.held;
    expect(await committedOffsets(`${scenario.topic}-group`, scenario.topic)).toBe(0);
    // SIGTERM while the batch is in hand (embedded, not yet written): it is finished and committed.
    expect(await stopJude(held, "SIGTERM")).toBe(0);
    expect(await committedOffsets(`${scenario.topic}-group`, scenario.topic)).toBe(events);
    // Its offsets were recorded in the store before that commit (store replay, store-offsets.ts): a
    // store that lost them would otherwise read as behind at the next start and replay for nothing.
    const committed = await committedByPartition(`${scenario.topic}-group`, scenario.topic);
    const source = await offsetSourceOf(`${scenario.topic}-group`, scenario.topic);
    const stored = await readSourceOffsets(scenario.store, version, source, [0, 1, 2]);
    for (const [partition, offset] of committed)
      if (offset > 0) expect(stored.get(partition)).toBe(BigInt(offset));
    const restarted = startWorker(scenario.configFile, "sigterm-restarted");
    await waitReady(restarted, scenario.workerPort);
    await produceChunk(scenario, 1);
    await expectConverged(scenario);
  });
});
