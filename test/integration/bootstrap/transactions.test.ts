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
import { waitFor } from "../../testbed/wait.ts";

/**
 * The read_committed watermark once it is past `offset`. A commit returns when the coordinator has
 * decided it; the markers reach the partition a moment later, and until then the last stable offset
 * (what a run captures) stops before the transaction, as it should for a run started at that moment.
 */
async function watermarkPast(reader: KafkaRangeReader, offset: number): Promise<number> {
  let watermark = 0;
  await waitFor(`the commit marker written (watermark past offset ${offset})`, async () => {
    watermark = (await reader.captureWatermarks())[0]!.offset;
    return watermark > offset;
  });
  return watermark;
}

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

    // Offsets 0-59 aborted, 60 the abort marker, 61-62 committed.
    const watermark = await watermarkPast(reader, 62);
    const keys: string[] = [];
    for await (const records of reader.read(0, 0, watermark))
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

    // Offsets 0-11 aborted, 12 the abort marker, 13 committed.
    const watermark = await watermarkPast(reader, 13);
    const keys: string[] = [];
    for await (const records of reader.read(0, 0, watermark))
      for (const record of records) keys.push(record.key!.toString());
    expect(keys).toEqual(["committed-1"]);
  } finally {
    await reader.close();
    await producer.close();
  }
});
