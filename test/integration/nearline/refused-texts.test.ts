/**
 * Texts the embedding server refuses for what they are never stop a worker. A server that takes at
 * most 2 inputs per call and 16 KiB per message (real `jude serve` limits, smaller than the worker's
 * batches): a whole batch is refused (TOO_MANY_INPUTS, INVALID_ARGUMENT), so it is halved until the
 * calls fit; a single 20 KB text is refused alone (RESOURCE_EXHAUSTED, message too large), so its
 * event goes to the dead-letter topic with the server's reason and the others land in the store.
 * Before, either refusal (never retried) ended the worker's loop, and a restarted worker met the same
 * records again: the partition stopped for good.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectRedis, openStore } from "../../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, produceEvents, readTopic, uniqueTopic } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "refused-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version, {
    limits: { maxInputsPerCall: 2, maxMessageBytes: 16 * 1024 },
  });
});

afterAll(async () => {
  await embedding?.server.close();
});

it("halves a batch the server refuses and dead-letters only the text it refuses alone", async () => {
  const topic = uniqueTopic("nl-refused");
  const deadLetterTopic = uniqueTopic("nl-refused-dead");
  await createTopics([topic, deadLetterTopic], 1);
  const config = nearlineConfig({
    topic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  try {
    const good = ["Nurse", "Pilot", "Chef", "Welder"].map((title, index) =>
      jobEvent(`ok${index}`, 1000 + index, { title, company: "Acme", skills: [] }),
    );
    const huge = jobEvent("huge", 2000, { title: "x ".repeat(10_000), company: "Acme", skills: [] });
    await produceEvents(topic, [good[0]!, good[1]!, huge, good[2]!, good[3]!]);

    await waitFor(
      "all five events handled",
      () => app.worker.totals.consumed === 5 && app.worker.lag.total === 0,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals).toMatchObject({ embedded: 4, deadLettered: 1 });
    const [dead] = await readTopic(deadLetterTopic, 1);
    expect(dead!.key).toBe("huge");
    expect(dead!.headers["jude.error.code"]).toBe("EMBEDDING_REFUSED");
    expect(dead!.headers["jude.error.reason"]).toMatch(/^the embedding server refused its text: /);
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(good, version));
  } finally {
    await app.stop();
    closeConnection();
    await redis.quit();
  }
});
