/**
 * A Kafka broker that hangs (connections open, nothing answers: a network partition, a hung load
 * balancer) must be said as soon as a refused one is: the client itself waits out its request timeout
 * and retries (30 s x 5, minutes) before any error reaches the worker, and meanwhile neither
 * jude_pipeline_retries_total{dependency="kafka"} nor /readyz `waitingOn` (which the NearlinePipeline's
 * Stalled condition reads) said anything. The worker reaches the broker through a link behind a proxy
 * that advertises the link (test/support/tcp-link.ts), so every connection of its client can be frozen.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { workerTerminationGraceSeconds } from "../../../controllers/nearline-pipeline/worker-deployment.ts";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { bootstrapBrokers, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { workerMetric } from "../../support/nearline-processes.ts";
import { startAdvertisingProxy, startTcpLink } from "../../support/tcp-link.ts";
import { startJude } from "../../support/processes.ts";
import { probe } from "../../testbed/http-probe.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const deps = useOwnedRedisAndEmbedding("kafka-hung-v1");
/**
 * Well past the worker's bound on an unanswered call (15 s) plus a probe's round, well short of the
 * client's own retries of its request timeout (2.5 minutes), which is all that said it before.
 */
const SAID_WITHIN_MS = 45_000;

/** A job worker's config reading from the testbed's broker through a link of its own that can hang. */
async function hangableWorker(topic: string) {
  const [host, port] = bootstrapBrokers()[0]!.split(":");
  let linkPort = 0;
  const proxy = await startAdvertisingProxy({ host: host!, port: Number(port) }, () => linkPort);
  const link = await startTcpLink({ host: "127.0.0.1", port: proxy.port });
  linkPort = link.port;
  const base = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  // Its first records, before the worker starts: also the topic known to the broker by then.
  await produceEvents(topic, jobEvents(["a", "b"], 1_000));
  const httpPort = await freePort();
  const config = {
    ...base,
    source: { ...base.source, kafka: { ...base.source.kafka, bootstrapServers: [`127.0.0.1:${link.port}`] } },
    http: { ...base.http, port: httpPort },
  };
  const readyz = async () =>
    JSON.parse((await probe(`http://127.0.0.1:${httpPort}/readyz`)).body) as {
      waitingOn?: { dependency: string; seconds: number; error: string };
    };
  return {
    config,
    link,
    readyz,
    kafkaRetries: () => workerMetric(httpPort, "jude_pipeline_retries_total", 'dependency="kafka"'),
    close: async () => {
      await link.close();
      await proxy.close();
    },
  };
}

/** A logger whose lines the test reads. */
function collectingLogger(): { logger: ReturnType<typeof createRootLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createRootLogger({
    component: "nearline",
    level: "warn",
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { logger, lines };
}

it("says a broker that hangs while it consumes within tens of seconds, then goes on when it answers", async () => {
  const topic = uniqueTopic("nl-kafka-hung");
  const worker = await hangableWorker(topic);
  const { logger, lines } = collectingLogger();
  const { app, closeConnection } = await startInProcessNearline(worker.config, logger, { drainMs: 2_000 });
  try {
    await waitFor("the events", () => app.worker.totals.consumed >= 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    // Nothing is said of a broker that answers.
    expect((await worker.readyz()).waitingOn).toBeUndefined();
    const before = await worker.kafkaRetries();
    worker.link.freeze();
    await waitFor(
      "the worker to say it waits on kafka",
      async () => (await worker.readyz()).waitingOn?.dependency === "kafka",
      { timeoutMs: SAID_WITHIN_MS, intervalMs: 500 },
    );
    expect(await worker.kafkaRetries()).toBeGreaterThan(before);
    expect((await worker.readyz()).waitingOn?.error).toMatch(/no answer/);
    expect(lines.some((line) => line.includes("kafka does not answer"))).toBe(true);
    worker.link.thaw();
    await produceEvents(topic, jobEvents(["c", "d"], 2_000));
    await waitFor("the events after the hang", () => app.worker.totals.consumed >= 4, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    await waitFor("the wait to end", async () => (await worker.readyz()).waitingOn === undefined, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  } finally {
    worker.link.thaw();
    await app.stop();
    closeConnection();
    await worker.close();
  }
});

it("says brokers that hang as it starts within tens of seconds, then consumes once they answer", async () => {
  const topic = uniqueTopic("nl-kafka-hung-start");
  const worker = await hangableWorker(topic);
  const { logger, lines } = collectingLogger();
  worker.link.freeze();
  let failure: unknown;
  const starting = startInProcessNearline(worker.config, logger, { drainMs: 2_000 });
  starting.catch((error: unknown) => (failure = error));
  try {
    await waitFor(
      "the worker to say it waits on kafka at start, or fail",
      async () =>
        failure !== undefined ||
        (await worker.readyz().catch(() => ({}) as { waitingOn?: undefined })).waitingOn?.dependency ===
          "kafka",
      { timeoutMs: SAID_WITHIN_MS, intervalMs: 500 },
    );
    expect(failure, String(failure)).toBeUndefined();
    expect(await worker.kafkaRetries()).toBeGreaterThan(0);
    expect(lines.some((line) => line.includes("kafka does not answer"))).toBe(true);
  } finally {
    worker.link.thaw();
  }
  const { app, closeConnection } = await starting;
  try {
    await waitFor("the events", () => app.worker.totals.consumed >= 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect((await worker.readyz()).waitingOn).toBeUndefined();
  } finally {
    await app.stop();
    closeConnection();
    await worker.close();
  }
});

it.each([
  ["hangs", "kafka does not answer"],
  ["is down", "kafka stream failed"],
] as const)("ends within its pod's grace period on SIGTERM while the broker %s", async (state, said) => {
  // Its consumer cannot leave the group (the broker answers nothing, or cannot be reached, while the
  // consumer rejoins): what it opened must still close, or the process outlives SIGTERM until the
  // kubelet kills it.
  const topic = uniqueTopic("nl-kafka-hung-term");
  const worker = await hangableWorker(topic);
  const file = join(mkdtempSync(join(tmpdir(), "nl-kafka-hung-")), "config.json");
  writeFileSync(file, JSON.stringify(worker.config));
  const jude = startJude(topic, ["nearline", "--config", file]);
  const log = () => (existsSync(jude.logFile) ? readFileSync(jude.logFile, "utf8") : "");
  let exited = false;
  void jude.exited.then(() => (exited = true));
  try {
    await waitFor(
      "the worker to consume its events",
      async () => {
        if (exited) throw new Error(`the worker exited: ${log()}`);
        return (await workerMetric(worker.config.http.port, "jude_pipeline_consumed_total")) >= 2;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    if (state === "hangs") worker.link.freeze();
    else await worker.link.close();
    await waitFor(`the worker to say "${said}"`, () => log().includes(said), {
      timeoutMs: SAID_WITHIN_MS,
      intervalMs: 200,
    });
    jude.child.kill("SIGTERM");
    const ended = await Promise.race([
      jude.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), workerTerminationGraceSeconds * 1000)),
    ]);
    expect(ended, log()).toBe(true);
  } finally {
    jude.child.kill("SIGKILL");
    worker.link.thaw();
    await worker.close();
  }
});
