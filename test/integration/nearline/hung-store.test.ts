/**
 * A store that hangs with its connection open (redis-server SIGSTOPped: a stalled host, or a link
 * that drops packets without a reset) must not stall the worker silently. Without a command timeout a
 * command sent to it waits forever: no error, no retry, no log, and the batch never ends. The worker
 * must time the command out, count and log the retries (jude_pipeline_retries_total{dependency="store"}),
 * keep the batch uncommitted, and finish it — every event stored — once the store answers again.
 * Meanwhile its probe stays green (a restart would not bring the store back) but says what it waits
 * on (/readyz waitingOn, jude_pipeline_dependency_wait_seconds), which the operator and alerts read.
 */
import { expect, it } from "vitest";
import { committedOffsets, produceEvents, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import { jobEvent, startJobWorker, useOwnedRedisAndEmbedding } from "../../support/nearline.ts";
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
