import {
  Admin,
  Consumer,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { afterAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";

describe("kafka: one real KRaft broker", () => {
  const bootstrapBrokers = [requireEnv("JUDE_KAFKA_BOOTSTRAP")];
  const topic = `testbed-smoke-${process.pid}-${Date.now()}`;
  const admin = new Admin({ clientId: "testbed-smoke-admin", bootstrapBrokers });
  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
  });

  it("creates a topic, produces a message and consumes it back", async () => {
    await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
    const metadata = await admin.metadata({ topics: [topic] });
    expect(metadata.topics.get(topic)?.partitionsCount).toBe(2);

    const producer = new Producer({
      clientId: "testbed-smoke-producer",
      bootstrapBrokers,
      serializers: stringSerializers,
    });
    await producer.send({ messages: [{ topic, key: "job-1", value: '{"title":"Nurse"}' }] });
    await producer.close();

    const consumer = new Consumer({
      clientId: "testbed-smoke-consumer",
      groupId: `${topic}-group`,
      bootstrapBrokers,
      deserializers: stringDeserializers,
    });
    try {
      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      let received: { key: string; value: string } | undefined;
      for await (const message of stream) {
        received = { key: message.key, value: message.value };
        break;
      }
      await stream.close();
      expect(received).toEqual({ key: "job-1", value: '{"title":"Nurse"}' });
    } finally {
      await consumer.close(true);
    }
  });
});
