/**
 * A worker pod that starts while its Redis is down (restarting beside it, failing over) must not fail
 * its start: exit 1 would crash-loop the pod for a store that comes back. It waits the outage out,
 * saying so in its log, and consumes once the store answers. SIGTERM during that wait ends the process
 * at once (nothing is in hand yet: no shutdown handler holds it), never a wait for the grace period's
 * SIGKILL. Tested on a Redis of the file's own, stopped before the worker starts, and on a Redis Cluster
 * none of whose seed nodes answers.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { startJude } from "../../support/processes.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "outage-start-v1";
// A Redis of this test's own: it is stopped while the worker starts.
const deps = useOwnedRedisAndEmbedding(version);
/** How long the worker may take from SIGTERM to its end: far below the pod's 30 s grace period. */
const PROMPT_MS = 5_000;
/** What the worker logs while it waits for the store at start. */
const WAITING = "store unavailable at start; retrying";

/** SIGTERMs the worker and expects it ended by the signal within PROMPT_MS (else SIGKILLs it). */
async function expectEndsAtOnceOnSigterm(worker: ReturnType<typeof startJude>): Promise<void> {
  const terminated = Date.now();
  worker.child.kill("SIGTERM");
  const ended = await Promise.race([
    worker.exited.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), PROMPT_MS)),
  ]);
  if (!ended) worker.child.kill("SIGKILL");
  expect(ended, `still running ${Date.now() - terminated} ms after SIGTERM`).toBe(true);
  expect(worker.child.signalCode).toBe("SIGTERM");
}

it("waits for a store that is down as it starts, then consumes", async () => {
  const topic = uniqueTopic("nl-outage-start");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const lines: string[] = [];
  const logger = createRootLogger({
    component: "nearline",
    level: "warn",
    destination: { write: (line: string) => void lines.push(line) },
  });
  await deps.redis.kill();
  let failure: unknown;
  const starting = startInProcessNearline(config, logger);
  starting.catch((error: unknown) => (failure = error));
  try {
    await waitFor(
      "the worker to wait for the store, or fail",
      () => failure !== undefined || lines.some((line) => line.includes(WAITING)),
    );
    expect(failure).toBeUndefined();
  } finally {
    await deps.redis.restart();
  }
  const { app, closeConnection } = await starting;
  try {
    await produceEvents(topic, jobEvents(["a", "b", "c"], 1_000));
    await waitFor("the events", () => app.worker.totals.consumed >= 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(app.worker.totals.embedded).toBe(3);
    expect(app.worker.failure).toBeUndefined();
  } finally {
    await app.stop();
    closeConnection();
  }
});

it("ends at once on SIGTERM while it waits for the store at start", async () => {
  const topic = uniqueTopic("nl-outage-start-term");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const configFile = join(mkdtempSync(join(tmpdir(), "nl-outage-start-")), "config.json");
  writeFileSync(configFile, JSON.stringify(config));
  await deps.redis.kill();
  try {
    const worker = startJude(topic, ["nearline", "--config", configFile]);
    let exitCode: number | null | undefined;
    void worker.exited.then((code) => (exitCode = code));
    await waitFor("the worker to wait for the store, or exit", () => {
      if (exitCode !== undefined) return true;
      return readFileSync(worker.logFile, "utf8").includes(WAITING);
    });
    expect(exitCode, readFileSync(worker.logFile, "utf8")).toBeUndefined();
    await expectEndsAtOnceOnSigterm(worker);
  } finally {
    await deps.redis.restart();
  }
});

it("says so while no seed node of its Redis Cluster answers as it starts", async () => {
  const topic = uniqueTopic("nl-outage-start-cluster");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  // A seed where nothing listens: a port just taken and given back.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const seedsEnv = "JUDE_TEST_NL_DEAD_CLUSTER_SEEDS";
  const configFile = join(mkdtempSync(join(tmpdir(), "nl-outage-start-cluster-")), "config.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      ...config,
      sinks: { ...config.sinks, store: { ...config.sinks.store, cluster: true, url: { env: seedsEnv } } },
    }),
  );
  const worker = startJude(topic, ["nearline", "--config", configFile], {
    [seedsEnv]: `127.0.0.1:${port}`,
  });
  // The log file is opened as the process first writes: none yet reads as nothing logged.
  const log = () => (existsSync(worker.logFile) ? readFileSync(worker.logFile, "utf8") : "");
  let exitCode: number | null | undefined;
  void worker.exited.then((code) => (exitCode = code));
  try {
    // A Cluster client queues its commands until a seed answers, for ever: unbounded, the start
    // waited without a word, where a standalone store's outage is logged and counted.
    await waitFor(
      "the worker to say it waits for the store, or exit",
      () => exitCode !== undefined || log().includes(WAITING),
      { timeoutMs: 30_000 },
    );
    expect(exitCode, log()).toBeUndefined();
    expect(log()).toContain("no node of the Redis Cluster answered");
    // Its open waits on a Cluster client with no node up, which only a drop would end: nothing in
    // hand yet, so no shutdown handler holds the process and the signal ends it (no drop needed).
    await expectEndsAtOnceOnSigterm(worker);
  } finally {
    worker.child.kill("SIGTERM");
    await worker.exited;
  }
});
