/**
 * A changelog written by a transactional producer: the Kafka snapshot reads committed records only
 * (read_committed), also when the abort marker comes in a later fetch response than the transaction's
 * first records: a transaction larger than one fetch, or one across a log segment roll (a fetch reads
 * from one segment).
 */
import { Producer } from "@platformatic/kafka";
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

/**
 * Aborts a transaction of `aborted` records of `recordKiB` each, commits one of `committed`, and
 * returns the keys the snapshot reader reads up to the read_committed watermark past them.
 */
async function readAfterAbortThenCommit(
  topic: string,
  shape: { aborted: number; recordKiB: number; committed: string[] },
): Promise<string[]> {
  const producer = new Producer({
    clientId: "jude-test-bootstrap-txn",
    bootstrapBrokers: bootstrapBrokers(),
    acks: -1,
    idempotent: true,
    transactionalId: uniqueTopic("bootstrap-txn-id"),
  });
  const padding = "x".repeat(shape.recordKiB * 1024);
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
    for (let index = 0; index < shape.aborted; index++)
      await aborted.send({ messages: [message(`aborted-${index}`)] });
    await aborted.abort();
    const committed = await producer.beginTransaction();
    await committed.send({ messages: shape.committed.map(message) });
    await committed.commit();
    // The aborted records, the abort marker, then the committed records.
    const watermark = await watermarkPast(reader, shape.aborted + shape.committed.length);
    const keys: string[] = [];
    for await (const records of reader.read(0, 0, watermark))
      for (const record of records) keys.push(record.key!.toString());
    return keys;
  } finally {
    await reader.close();
    await producer.close();
  }
}

it("leaves out every record of an aborted transaction larger than one fetch", async () => {
  const topic = uniqueTopic("bootstrap-txn");
  await createTopics([topic], 1);
  // 60 records of 200 KiB: about 12 MiB, more than the reader's 8 MiB per fetch.
  const committed = ["committed-1", "committed-2"];
  expect(await readAfterAbortThenCommit(topic, { aborted: 60, recordKiB: 200, committed })).toEqual(
    committed,
  );
});

it("leaves out every record of an aborted transaction across a log segment roll", async () => {
  const topic = uniqueTopic("bootstrap-txn-segments");
  // The smallest segment the broker allows: the transaction below spans three segments.
  await createTopics([topic], 1, { "segment.bytes": String(1024 * 1024) });
  const committed = ["committed-1"];
  expect(await readAfterAbortThenCommit(topic, { aborted: 12, recordKiB: 150, committed })).toEqual(
    committed,
  );
});
