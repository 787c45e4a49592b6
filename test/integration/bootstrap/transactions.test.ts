/**
 * A changelog written by a transactional producer: the Kafka snapshot reads committed records only
 * (read_committed), also when the abort marker comes in a later fetch response than the transaction's
 * first records: a transaction larger than one fetch, or one across a log segment roll (a fetch reads
 * from one segment).
 */
import { Admin, Producer } from "@platformatic/kafka";
import { expect, it } from "vitest";
import { KafkaRangeReader } from "../../../pipelines/bootstrap/kafka-range.ts";
import { kafkaClientOptions } from "../../../pipelines/shared/kafka.ts";
import { bootstrapBrokers, createTopics, uniqueTopic } from "../../support/kafka.ts";

it("leaves out every record of an aborted transaction larger than one fetch", async () => {
  const topic = uniqueTopic("bootstrap-txn");
  await createTopics([topic], 1);
  const producer = new Producer({
    clientId: "jude-test-bootstrap-txn",
    bootstrapBrokers: bootstrapBrokers(),
    acks: -1,
    idempotent: true,
    transactionalId: uniqueTopic("bootstrap-txn-id"),
  });
  const padding = "x".repeat(200 * 1024);
  const message = (id: string) => ({
    topic,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ id, title: `Title of ${id}`, padding })),
  });
  const reader = new KafkaRangeReader(
    kafkaClientOptions({ bootstrapServers: bootstrapBrokers() }, "test-bootstrap-txn"),
    topic,
  );
  try {
    // 60 records of 200 KiB: about 12 MiB, more than the reader's 8 MiB per fetch.
    const aborted = await producer.beginTransaction();
    for (let index = 0; index < 60; index++) await aborted.send({ messages: [message(`aborted-${index}`)] });
    await aborted.abort();
    const committed = await producer.beginTransaction();
    await committed.send({ messages: [message("committed-1"), message("committed-2")] });
    await committed.commit();

    const [watermark] = await reader.captureWatermarks();
    const keys: string[] = [];
    for await (const records of reader.read(0, 0, watermark!.offset))
      for (const record of records) keys.push(record.key!.toString());
    expect(keys).toEqual(["committed-1", "committed-2"]);
  } finally {
    await reader.close();
    await producer.close();
  }
});

it("leaves out every record of an aborted transaction across a log segment roll", async () => {
  const topic = uniqueTopic("bootstrap-txn-segments");
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    // The smallest segment the broker allows: the transaction below spans three segments.
    await admin.createTopics({
      topics: [topic],
      partitions: 1,
      replicas: 1,
      configs: [{ name: "segment.bytes", value: String(1024 * 1024) }],
    });
  } finally {
    await admin.close();
  }
  const producer = new Producer({
    clientId: "jude-test-bootstrap-txn",
    bootstrapBrokers: bootstrapBrokers(),
    acks: -1,
    idempotent: true,
    transactionalId: uniqueTopic("bootstrap-txn-id"),
  });
  const padding = "x".repeat(150 * 1024);
  const message = (id: string) => ({
    topic,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ id, title: `Title of ${id}`, padding })),
  });
  const reader = new KafkaRangeReader(
    kafkaClientOptions({ bootstrapServers: bootstrapBrokers() }, "test-bootstrap-txn"),
    topic,
  );
  try {
    const aborted = await producer.beginTransaction();
    for (let index = 0; index < 12; index++) await aborted.send({ messages: [message(`aborted-${index}`)] });
    await aborted.abort();
    const committed = await producer.beginTransaction();
    await committed.send({ messages: [message("committed-1")] });
    await committed.commit();

    const [watermark] = await reader.captureWatermarks();
    const keys: string[] = [];
    for await (const records of reader.read(0, 0, watermark!.offset))
      for (const record of records) keys.push(record.key!.toString());
    expect(keys).toEqual(["committed-1"]);
  } finally {
    await reader.close();
    await producer.close();
  }
});
