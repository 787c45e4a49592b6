/**
 * A store that hangs with its connection open (redis-server SIGSTOPped: a stalled host, or a link
 * that drops packets without a reset) must not stall the worker silently. Without a command timeout a
 * command sent to it waits forever: no error, no retry, no log, and the batch never ends. The worker
 * must time the command out, count and log the retries (jude_pipeline_retries_total{dependency="store"}),
 * keep the batch uncommitted, and finish it — every event stored — once the store answers again.
 * Meanwhile its probe stays green (a restart would not bring the store back) but says what it waits
 * on (/readyz waitingOn, jude_pipeline_dependency_wait_seconds), which the operator and alerts read.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { workerTerminationGraceSeconds } from "../../../controllers/nearline-pipeline/worker-deployment.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { committedOffsets, produceEvents, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  jobEvent,
  jobEvents,
  jobWorkerConfig,
  liveIds,
  startInProcessNearline,
  startJobWorker,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { startHeldWorker, workerMetric } from "../../support/nearline-processes.ts";
import { startJude } from "../../support/processes.ts";
import { startTcpLink } from "../../support/tcp-link.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "hung-v1";
const deps = useOwnedRedisAndEmbedding(version);

/**
 * A worker on this test's Redis that has committed a first batch; then the Redis hangs and `later`
 * events arrive. Resolves once the worker has timed out a store command and retried it.
 */
async function workerOnHungStore(label: string, later: TestEvent[]) {
  const topic = uniqueTopic(label);
  const worker = await startJobWorker(deps.embedding, { topic, storeUrl: deps.redis.url });
  const { app, config, metric } = worker;
  const stop = async () => {
    deps.redis.resume(); // a worker stops after its batch, which waits on the store
    await worker.stop();
  };
  try {
    // A first batch: the worker's connection to the store is open and in use.
    await produceEvents(topic, [
      jobEvent(`${label}-0`, 1000, { title: "Engineer 0", company: "Acme", skills: [] }),
    ]);
    await waitFor("the first batch", () => app.worker.totals.batches >= 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    deps.redis.pause();
    await produceEvents(topic, later);
    await waitFor(
      "a retry on the hung store",
      async () => (await metric("jude_pipeline_retries_total", 'dependency="store"')) >= 1,
      { timeoutMs: 45_000, intervalMs: 500 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { app, config, topic, metric, stop };
}

it("times out commands to a hung store, retries them visibly, and stores the batch once it answers", async () => {
  const { app, metric, stop } = await workerOnHungStore(
    "nl-hung-store",
    [1, 2, 3].map((index) =>
      jobEvent(`j${index}`, 2000 + index, { title: `Engineer ${index}`, company: "Acme", skills: [] }),
    ),
  );
  try {
    expect(app.worker.totals.batches).toBe(1); // nothing of the second batch committed meanwhile
    const readyz = await fetch(`http://127.0.0.1:${app.ops.port}/readyz`);
    expect(readyz.status).toBe(200);
    const waiting = ((await readyz.json()) as { waitingOn?: Record<string, unknown> }).waitingOn;
    expect(waiting).toMatchObject({ dependency: "store", error: expect.any(String) });
    expect(waiting?.["seconds"]).toBeGreaterThan(0);
    expect(await metric("jude_pipeline_dependency_wait_seconds", 'dependency="store"')).toBeGreaterThan(0);

    deps.redis.resume();
    await waitFor("the events after the pause", () => app.worker.totals.consumed >= 4, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(app.worker.totals.embedded).toBe(4);
    const after = (await (await fetch(`http://127.0.0.1:${app.ops.port}/readyz`)).json()) as object;
    expect(after).not.toHaveProperty("waitingOn");
    expect(await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text()).not.toMatch(
      /^jude_pipeline_dependency_wait_seconds\{/m,
    );
  } finally {
    await stop();
  }
}, 150_000);

it("drains within the pod's grace period while the store hangs, leaving the batch uncommitted", async () => {
  const { app, config, topic, stop } = await workerOnHungStore("nl-hung-drain", [
    jobEvent("d1", 2000, { title: "Engineer 1", company: "Acme", skills: [] }),
  ]);
  try {
    // SIGTERM: the drain waits 20 s for the batch in hand, then gives up on it. The whole stop must end
    // well inside the worker pod's terminationGracePeriodSeconds (30), or the kubelet's SIGKILL ends it.
    const started = Date.now();
    await app.stop();
    const stoppedMs = Date.now() - started;
    expect(stoppedMs).toBeLessThan(25_000);
    expect(app.worker.totals.batches).toBe(1);
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(1);
  } finally {
    await stop();
  }
}, 150_000);

it("says it waits on the embedding server while that server is unreachable", async () => {
  // The file's model, at an address nothing listens on: every call is refused and retried.
  const unreachable = { ...deps.embedding, address: `127.0.0.1:${await freePort()}` };
  const topic = uniqueTopic("nl-embed-down");
  // Stopped with its batch still waiting on the server: no need to wait the 20 s drain out.
  const { app, stop } = await startJobWorker(unreachable, {
    topic,
    storeUrl: deps.redis.url,
    drainMs: 1_000,
  });
  try {
    await produceEvents(topic, [jobEvent("e1", 1000, { title: "Engineer 1", company: "Acme", skills: [] })]);
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${app.ops.port}/readyz`);
      return {
        status: response.status,
        body: (await response.json()) as { waitingOn?: { dependency: string } },
      };
    };
    await waitFor(
      "the worker to report its wait",
      async () => (await readyz()).body.waitingOn !== undefined,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    const { status, body } = await readyz();
    expect(status).toBe(200); // not a reason to pull or restart the worker
    expect(body.waitingOn?.dependency).toBe("embedding");
  } finally {
    await stop();
  }
}, 120_000);

/**
 * `jude nearline` as the pod runs it, its store reached through a link that freezes (connections open,
 * nothing answers: a stalled host, a partition), SIGTERMed with a batch in hand waiting on the store:
 * at its change-detection reads, or held at `embedded` (test/e2e/fixtures/nearline-held.ts) so that
 * SIGTERM releases it into its writes. Every step after the drain (the QUIT) waits on the store too.
 * Before the store connection was dropped after the drain, the QUIT waited its command timeout and
 * left the socket (reconnecting after a timed-out command) open: the process lived until SIGKILL.
 */
it.each(["reads", "writes"] as const)(
  "ends within its pod's grace period on SIGTERM while the store hangs at its %s, committing nothing unstored",
  async (at) => {
    const topic = uniqueTopic(`nl-hung-store-term-${at}`);
    const redis = new URL(deps.redis.url);
    const link = await startTcpLink({ host: redis.hostname, port: Number(redis.port) });
    const base = await jobWorkerConfig(deps.embedding, { topic, storeUrl: `redis://127.0.0.1:${link.port}` });
    const config = { ...base, http: { ...base.http, port: await freePort() } };
    const file = join(mkdtempSync(join(tmpdir(), "nl-hung-store-term-")), "config.json");
    writeFileSync(file, JSON.stringify(config));
    const jude =
      at === "reads"
        ? startJude(topic, ["nearline", "--config", file])
        : startHeldWorker(topic, file, "embedded");
    const log = () => (existsSync(jude.logFile) ? readFileSync(jude.logFile, "utf8") : "");
    let exited = false;
    void jude.exited.then(() => (exited = true));
    const metric = async (name: string, labels = "") => {
      if (exited) throw new Error(`the worker exited: ${log()}`);
      return workerMetric(config.http.port, name, labels);
    };
    const group = config.source.kafka.consumerGroup;
    const ids = ["t0", "t1", "t2", "t3"];
    const direct = connectRedis({ url: deps.redis.url });
    try {
      if ("held" in jude) {
        await produceEvents(topic, jobEvents(ids, 1_000));
        await jude.held;
        link.freeze();
      } else {
        await produceEvents(topic, jobEvents(ids.slice(0, 1), 1_000));
        await waitFor(
          "the first batch committed",
          async () =>
            (await metric("jude_pipeline_consumed_total")) >= 1 &&
            (await committedOffsets(group, topic)) === 1,
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        link.freeze();
        await produceEvents(topic, jobEvents(ids.slice(1), 2_000));
        await waitFor(
          "a retry on the hung store",
          async () => (await metric("jude_pipeline_retries_total", 'dependency="store"')) >= 1,
          { timeoutMs: 45_000, intervalMs: 500 },
        );
      }
      const committedBefore = await committedOffsets(group, topic);
      const terminated = Date.now();
      jude.child.kill("SIGTERM");
      const ended = await Promise.race([
        jude.exited.then(() => true),
        new Promise<false>((resolve) =>
          setTimeout(() => resolve(false), workerTerminationGraceSeconds * 1000),
        ),
      ]);
      expect(ended, `still running ${Date.now() - terminated} ms after SIGTERM: ${log()}`).toBe(true);
      expect(jude.child.exitCode, log()).toBe(0);
      // At least once: the batch the store never took stays uncommitted.
      expect(await committedOffsets(group, topic)).toBe(committedBefore);
      // What the frozen link holds never arrives (the old pod's connections are gone).
      await link.close();

      // The next worker (the pod again, or another owner of the partition) reads it again and stores it.
      process.env.JUDE_TEST_HUNG_STORE_DIRECT = deps.redis.url;
      const rerun = await startInProcessNearline({
        ...config,
        sinks: {
          ...config.sinks,
          store: { ...config.sinks.store, url: { env: "JUDE_TEST_HUNG_STORE_DIRECT" } },
        },
        http: { ...config.http, port: 0 },
      });
      try {
        await waitFor(
          "the rerun to commit the rest",
          async () => (await committedOffsets(group, topic)) === 4,
          {
            timeoutMs: 60_000,
            intervalMs: 200,
          },
        );
      } finally {
        await rerun.app.stop();
        rerun.closeConnection();
      }
      const store = await openStore(direct, { name: config.sinks.store.name });
      expect(await liveIds(store, deps.embedding.version, ids)).toEqual(ids);
    } finally {
      jude.child.kill("SIGKILL");
      link.thaw();
      await link.close();
      await direct.quit();
    }
  },
  180_000,
);
