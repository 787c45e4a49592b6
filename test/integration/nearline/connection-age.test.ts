/**
 * The nearline worker's embedding client over serving replicas that end their connections often
 * (`jude serve --max-connection-age-ms=1000`: GOAWAY every second, each new connection balanced anew)
 * and one replica that stops while the worker's calls run on it, its drain too short for them: the
 * server cuts those calls (RST_STREAM CANCEL) and refuses what reaches it meanwhile (UNAVAILABLE).
 * The client takes both as retryable, the worker sends the unanswered texts again (through the
 * Service, to the replica left), and every event is stored, none dead-lettered, the worker never
 * fails. Two real `jude serve` processes stand behind a per-connection TCP balancer, as behind a
 * Service; the stopping one embeds in batches of two, so a batch of long texts is still in flight
 * when its 100 ms drain ends.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  recordCount,
  uniqueTopic,
} from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { startBalancer, type Balancer } from "../../support/tcp-balancer.ts";
import { waitFor } from "../../testbed/wait.ts";
import { longDrainText, metricValue, spawnServe, type ServeProcess } from "../serving/helpers.ts";

const EVENTS = 400;
const version = "connage-v1";
const serves: ServeProcess[] = [];
let balancer: Balancer | undefined;

beforeAll(async () => {
  const common = ["--execution-provider=cpu", "--max-connection-age-ms=1000"];
  serves.push(await spawnServe([...common, "--max-batch-size=2", "--drain-timeout-ms=100"]));
  serves.push(await spawnServe(common));
  await Promise.all(
    serves.map((serve) => serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving")),
  );
  balancer = await startBalancer(serves.map((serve) => serve.grpcPort));
});
afterAll(async () => {
  await balancer?.close();
  for (const serve of serves) if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
  await Promise.all(serves.map((serve) => serve.exited));
});

it("stores every event, none dead-lettered, while connections age and a replica stops with calls in flight", async () => {
  const address = `127.0.0.1:${balancer!.port}`;
  const probe = new EmbeddingClient({ address });
  const digest = (await probe.embed(["which model"])).model.digest;
  probe.close();
  const topic = uniqueTopic("nl-connage");
  const deadLetterTopic = uniqueTopic("nl-connage-dead");
  await createTopics([topic, deadLetterTopic], 1);
  const config = nearlineConfig({ topic, deadLetterTopic, version, digest, embeddingAddress: address });
  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    const events = Array.from({ length: EVENTS }, (_, index) =>
      jobEvent(`j${index}`, 1000, { title: `${longDrainText} ${index}`, company: "Acme", skills: [] }),
    );
    await produceEvents(topic, events);
    // The first replica stops while a batch of the worker's runs there.
    const stopping = serves[0]!;
    const metrics = `http://127.0.0.1:${stopping.httpPort}/metrics`;
    await waitFor(
      "a batch in flight on the first replica",
      async () => (metricValue(await (await fetch(metrics)).text(), "jude_serving_in_flight") ?? 0) > 0,
      { timeoutMs: 120_000, intervalMs: 5 },
    );
    balancer!.retire(0); // it leaves the Service's endpoints as its pod terminates
    stopping.child.kill("SIGTERM");
    // Its drain ran out with the batch still computing: the server cut it.
    await stopping.waitForLog((line) => line.msg === "drain timed out; cancelling what is left");
    await stopping.exited;

    await waitFor(
      `all ${EVENTS} events committed, or the worker failed`,
      async () =>
        // A failed worker stops here, its failure told by the expect below.
        app.worker.failure !== undefined ||
        (await committedOffsets(config.source.kafka.consumerGroup, topic)) === EVENTS,
      { timeoutMs: 240_000, intervalMs: 200 },
    );
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals.deadLettered).toBe(0);
    expect(await recordCount(deadLetterTopic)).toBe(0);
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(events, version));
  } finally {
    await app.stop();
    closeConnection();
    await redis.quit();
  }
}, 400_000);
