/**
 * An output topic whose `max.message.bytes` (the largest record batch the broker accepts for it) is
 * below the client's default send size: the worker sends smaller batches; a record that alone is too
 * large is a configuration error that stops the worker with a specific code, instead of a generic
 * "Producing messages failed.". Real Kafka (the testbed's broker), the testbed's Redis, the test
 * embedding server.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  readTopic,
  uniqueTopic,
} from "../../support/kafka.ts";
import { jobEvent, nearlineConfig, startInProcessNearline } from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "output-limits-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
});

afterAll(async () => {
  await embedding?.server.close();
});

/** A changelog and an output topic limited to `maxMessageBytes` per record batch. */
async function topics(prefix: string, maxMessageBytes: number): Promise<{ topic: string; output: string }> {
  const topic = uniqueTopic(prefix);
  const output = `${topic}.embeddings`;
  await createTopics([topic], 1);
  await createTopics([output], 1, { "max.message.bytes": String(maxMessageBytes) });
  return { topic, output };
}

const events = (count: number) =>
  Array.from({ length: count }, (_, index) =>
    jobEvent(`j${index}`, 1000 + index, { title: `Engineer ${index}`, skills: ["Go"] }),
  );

it("fits its sends to an output topic that takes fewer bytes per batch than it sends by default", async () => {
  // One output record of 384 dimensions is ~2.5 KB: 40 of them (~100 KB) exceed 20,000 bytes.
  const { topic, output } = await topics("nl-outlimit", 20_000);
  const config = nearlineConfig({
    topic,
    outputTopic: output,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  await produceEvents(topic, events(40));
  const { app, closeConnection } = await startInProcessNearline(config);
  try {
    await waitFor(
      "the events committed",
      async () => {
        if (app.worker.failure !== undefined) throw app.worker.failure;
        return (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 40;
      },
      { timeoutMs: 90_000, intervalMs: 300 },
    );
    const records = await readTopic(output, 40);
    expect(new Set(records.map((record) => record.key))).toEqual(
      new Set(events(40).map((event) => `job/${version}/${event.key}`)),
    );
  } finally {
    await app.stop();
    closeConnection();
  }
});

it("stops with OUTPUT_REFUSED, naming the topic and the size, when one record is larger than the topic takes", async () => {
  const { topic, output } = await topics("nl-outrefuse", 1_000);
  const config = nearlineConfig({
    topic,
    outputTopic: output,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  await produceEvents(topic, events(2));
  const { app, closeConnection } = await startInProcessNearline(config);
  try {
    await expect(app.worker.done).rejects.toMatchObject({ code: "OUTPUT_REFUSED" });
    const readyz = await fetch(`http://127.0.0.1:${app.ops.port}/readyz`);
    expect(readyz.status).toBe(503);
    const { error } = (await readyz.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("OUTPUT_REFUSED");
    expect(error.message).toContain(output);
    expect(error.message).toMatch(/max\.message\.bytes/);
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(0);
  } finally {
    await app.stop();
    closeConnection();
  }
});
