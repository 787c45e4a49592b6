/**
 * A worker pod that starts while its Kafka brokers are down (a broker restarting, a network not up
 * yet) must not fail its start: exit 1 would crash-loop the pod for brokers that come back. It waits,
 * saying so in its log and in jude_pipeline_retries_total{dependency="kafka"} on a /metrics that is up
 * during the wait, and consumes once the brokers answer. SIGTERM during that wait ends the process at
 * once, as during a store outage at start. And a start that fails after the store opened (the topic
 * deleted while the worker waited for its store) ends the process: nothing it opened holds it alive.
 * The brokers are reached through a port of the file's own: nothing listens there until a test puts a
 * link to the testbed's Kafka on it.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { Admin, Consumer, MultipleErrors, ProtocolError } from "@platformatic/kafka";
import { expect, it } from "vitest";
import { createRootLogger } from "../../../plumbing/logger.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { bootstrapBrokers, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { workerMetric } from "../../support/nearline-processes.ts";
import { startJude, type JudeProcess } from "../../support/processes.ts";
import { startTcpLink } from "../../support/tcp-link.ts";
import { probe } from "../../testbed/http-probe.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "kafka-outage-start-v1";
const deps = useOwnedRedisAndEmbedding(version);
/** How long the worker may take from SIGTERM, or from its failure, to its end: far below 30 s. */
const PROMPT_MS = 5_000;
/** What the worker logs while it waits for the brokers at start. */
const WAITING = "kafka unavailable at start; retrying";

/** `config` reading from brokers at `port` on 127.0.0.1, its ops endpoint on `httpPort`. */
function throughPort(config: NearlineConfig, port: number, httpPort = 0): NearlineConfig {
  return {
    ...config,
    source: {
      ...config.source,
      kafka: { ...config.source.kafka, bootstrapServers: [`127.0.0.1:${port}`] },
    },
    http: { ...config.http, port: httpPort },
  };
}

function writeConfig(config: NearlineConfig): string {
  const file = join(mkdtempSync(join(tmpdir(), "nl-kafka-start-")), "config.json");
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** The worker's log so far (none yet reads as nothing logged), and its exit code once it ended. */
function watch(worker: JudeProcess): { log: () => string; exitCode: () => number | null | undefined } {
  let exitCode: number | null | undefined;
  void worker.exited.then((code) => (exitCode = code));
  return {
    log: () => (existsSync(worker.logFile) ? readFileSync(worker.logFile, "utf8") : ""),
    exitCode: () => exitCode,
  };
}

/** Resolves true when `worker` ended within PROMPT_MS, else kills it and resolves false. */
async function endsPromptly(worker: JudeProcess): Promise<boolean> {
  const ended = await Promise.race([
    worker.exited.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), PROMPT_MS)),
  ]);
  if (!ended) worker.child.kill("SIGKILL");
  return ended;
}

/**
 * Starts a job worker (in this process) for `topic` whose brokers are at a port of its own, where
 * nothing listens yet, and its ops endpoint at another; resolves once it logs its wait for them (or
 * failed: `failure`). `lines` are its log's.
 */
async function startWaitingForBrokers(topic: string) {
  const kafkaPort = await freePort();
  const httpPort = await freePort();
  const config = throughPort(
    await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url }),
    kafkaPort,
    httpPort,
  );
  const lines: string[] = [];
  const logger = createRootLogger({
    component: "nearline",
    level: "warn",
    destination: { write: (line: string) => void lines.push(line) },
  });
  let failure: unknown;
  const starting = startInProcessNearline(config, logger);
  starting.catch((error: unknown) => (failure = error));
  await waitFor(
    "the worker to wait for the brokers, or fail",
    () => failure !== undefined || lines.some((line) => line.includes(WAITING)),
    { timeoutMs: 30_000 },
  );
  return { kafkaPort, httpPort, lines, starting, failure: () => failure };
}

it("waits for brokers that are down as it starts, counted on its /metrics, then consumes", async () => {
  const topic = uniqueTopic("nl-kafka-start");
  const [host, port] = bootstrapBrokers()[0]!.split(":");
  let link: Awaited<ReturnType<typeof startTcpLink>> | undefined;
  const { kafkaPort, httpPort, lines, starting, failure } = await startWaitingForBrokers(topic);
  try {
    expect(failure(), String(failure())).toBeUndefined();
    // The line names where it looks (the client's error does not always: a port that closes at once).
    const waiting = JSON.parse(lines.find((line) => line.includes(WAITING))!) as { brokers?: unknown };
    expect(waiting.brokers).toEqual([`127.0.0.1:${kafkaPort}`]);
    // Scrapable while it waits; not ready, and not yet live for the startup probe.
    expect(await workerMetric(httpPort, "jude_pipeline_retries_total", 'dependency="kafka"')).toBeGreaterThan(
      0,
    );
    // And says what it waits on, as a batch waiting on Kafka does (the NearlinePipeline reads it).
    const readyz = await probe(`http://127.0.0.1:${httpPort}/readyz`);
    expect(readyz.status).toBe(503);
    expect((JSON.parse(readyz.body) as { waitingOn?: unknown }).waitingOn).toMatchObject({
      dependency: "kafka",
    });
    expect((await probe(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(503);
  } finally {
    link = await startTcpLink({ host: host!, port: Number(port) }, kafkaPort);
  }
  const { app, closeConnection } = await starting;
  try {
    expect(app.ops.port).toBe(httpPort);
    await produceEvents(topic, jobEvents(["a", "b", "c"], 1_000));
    await waitFor("the events", () => app.worker.totals.consumed >= 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(app.worker.totals.embedded).toBe(3);
    expect((await probe(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
    // The start's wait is over once it consumes.
    expect(
      (JSON.parse((await probe(`http://127.0.0.1:${httpPort}/readyz`)).body) as { waitingOn?: unknown })
        .waitingOn,
    ).toBeUndefined();
  } finally {
    await app.stop();
    closeConnection();
    await link.close();
  }
});

it("stops saying Kafka once its brokers answer, and says the store it then waits for", async () => {
  const topic = uniqueTopic("nl-kafka-start-store");
  const [host, port] = bootstrapBrokers()[0]!.split(":");
  // Brokers and store both away as the worker starts (a cluster coming back); the brokers first.
  await deps.redis.kill();
  let worker: Awaited<ReturnType<typeof startWaitingForBrokers>> | undefined;
  let link: Awaited<ReturnType<typeof startTcpLink>> | undefined;
  const readyz = async () =>
    JSON.parse((await probe(`http://127.0.0.1:${worker!.httpPort}/readyz`)).body) as {
      waitingOn?: { dependency: string };
    };
  try {
    worker = await startWaitingForBrokers(topic);
    const { lines, failure } = worker;
    expect((await readyz()).waitingOn).toMatchObject({ dependency: "kafka" });
    link = await startTcpLink({ host: host!, port: Number(port) }, worker.kafkaPort);
    await waitFor(
      "the worker to wait for the store, or fail",
      () => failure() !== undefined || lines.some((line) => line.includes("store unavailable at start")),
      { timeoutMs: 60_000 },
    );
    expect(failure(), String(failure())).toBeUndefined();
    // Kafka answered: the NearlinePipeline must not blame it for the store's outage.
    expect((await readyz()).waitingOn).toMatchObject({ dependency: "store" });
  } finally {
    await deps.redis.restart();
    if (worker !== undefined)
      link ??= await startTcpLink({ host: host!, port: Number(port) }, worker.kafkaPort);
  }
  const { app, closeConnection } = await worker.starting;
  try {
    await produceEvents(topic, jobEvents(["a"], 1_000));
    await waitFor("the event", () => app.worker.totals.consumed >= 1, { timeoutMs: 60_000, intervalMs: 100 });
    expect((await readyz()).waitingOn).toBeUndefined();
  } finally {
    await app.stop();
    closeConnection();
    await link?.close();
  }
});

it("ends at once on SIGTERM while it waits for the brokers at start", async () => {
  const topic = uniqueTopic("nl-kafka-start-term");
  const config = throughPort(
    await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url }),
    await freePort(),
  );
  const worker = startJude(topic, ["nearline", "--config", writeConfig(config)]);
  const { log, exitCode } = watch(worker);
  try {
    await waitFor(
      "the worker to say it waits for the brokers, or exit",
      () => exitCode() !== undefined || log().includes(WAITING),
      { timeoutMs: 30_000 },
    );
    expect(exitCode(), log()).toBeUndefined();
  } finally {
    worker.child.kill("SIGTERM");
  }
  expect(await endsPromptly(worker), log()).toBe(true);
  expect(worker.child.signalCode).toBe("SIGTERM");
});

it("ends when its start fails after the store opened (the topic deleted meanwhile)", async () => {
  const topic = uniqueTopic("nl-kafka-start-gone");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  // The topic is checked before the store opens: the store is down, the topic deleted while the
  // worker waits for it, and the store brought back, so the group join finds no topic.
  await deps.redis.kill();
  let worker: JudeProcess;
  let watched: ReturnType<typeof watch>;
  try {
    worker = startJude(topic, ["nearline", "--config", writeConfig(config)]);
    watched = watch(worker);
    await waitFor(
      "the worker to wait for the store, or exit",
      () => watched.exitCode() !== undefined || watched.log().includes("store unavailable at start"),
      { timeoutMs: 30_000 },
    );
    expect(watched.exitCode(), watched.log()).toBeUndefined();
    const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
    try {
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await admin.close();
    }
  } finally {
    await deps.redis.restart();
  }
  await waitFor(
    "the worker to fail its start, or exit",
    () => watched.exitCode() !== undefined || watched.log().includes("nearline worker failed to start"),
    { timeoutMs: 60_000 },
  );
  expect(await endsPromptly(worker), watched.log()).toBe(true);
  expect(watched.exitCode(), watched.log()).toBe(1);
});

it("waits at its group join for brokers gone since its topic check, then consumes and rejoins as any worker", async () => {
  const topic = uniqueTopic("nl-kafka-start-join");
  const kafkaPort = await freePort();
  const config = throughPort(
    await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url }),
    kafkaPort,
  );
  const [host, port] = bootstrapBrokers()[0]!.split(":");
  const target = { host: host!, port: Number(port) };
  const lines: string[] = [];
  const logger = createRootLogger({
    component: "nearline",
    level: "warn",
    destination: { write: (line: string) => void lines.push(line) },
  });
  // The topic check passes through the link; the store is down, and while the worker waits for it
  // the link goes: the group join, the next call to the brokers, finds none.
  let link = await startTcpLink(target, kafkaPort);
  await deps.redis.kill();
  // The worker's Kafka consumers (the client's channel of new instances): the one it consumes with
  // must rejoin its group when its stream is reopened, as group-rejoin.test.ts checks of a worker
  // whose join passed at once.
  const created: Consumer[] = [];
  const onInstance = (message: unknown) => {
    const { instance } = message as { instance?: unknown };
    if (instance instanceof Consumer) created.push(instance);
  };
  subscribe("plt:kafka:instances", onInstance);
  let failure: unknown;
  const starting = startInProcessNearline(config, logger);
  starting.catch((error: unknown) => (failure = error));
  starting.finally(() => unsubscribe("plt:kafka:instances", onInstance)).catch(() => undefined);
  try {
    await waitFor(
      "the worker to wait for the store, or fail",
      () => failure !== undefined || lines.some((line) => line.includes("store unavailable at start")),
      { timeoutMs: 30_000 },
    );
    await link.close();
  } finally {
    await deps.redis.restart();
  }
  try {
    await waitFor(
      "the worker to wait for the brokers at its join, or fail",
      () => failure !== undefined || lines.some((line) => line.includes(WAITING)),
      { timeoutMs: 60_000 },
    );
    expect(failure, String(failure)).toBeUndefined();
  } finally {
    link = await startTcpLink(target, kafkaPort);
  }
  const { app, closeConnection } = await starting;
  try {
    await produceEvents(topic, jobEvents(["a", "b"], 1_000));
    await waitFor("the events", () => app.worker.totals.consumed >= 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(app.worker.totals.embedded).toBe(2);
    // A failed try at the join must leave nothing behind in the client: a stream reopened after the
    // client's rejoin failed (what it emits then) joins the group again, and consuming goes on.
    const consumer = created.findLast(
      (candidate) =>
        candidate.groupId === config.source.kafka.consumerGroup &&
        candidate.listenerCount("consumer:group:join") > 0,
    );
    if (consumer === undefined) throw new Error("the worker's consumer was not seen");
    let rejoined = false;
    consumer.once("consumer:group:join", () => (rejoined = true));
    const rebalancing = new ProtocolError("REBALANCE_IN_PROGRESS");
    consumer.emit("error", new MultipleErrors("joinGroup failed 4 times.", Array(4).fill(rebalancing)));
    await waitFor("the worker to rejoin its group", () => rejoined, { timeoutMs: 30_000, intervalMs: 100 });
    await produceEvents(topic, jobEvents(["d", "e"], 2_000));
    await waitFor("the events after the rejoin", () => app.worker.totals.consumed >= 4, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
  } finally {
    await app.stop();
    closeConnection();
    await link.close();
  }
});
