/** Kafka helpers for integration tests: unique topics, producing changelog events, reading topics back. */
import { Admin, Consumer, MessagesStreamModes, Producer } from "@platformatic/kafka";
import { chunk } from "../../plumbing/chunks.ts";
import { requireEnv } from "./env.ts";

export const bootstrapBrokers = (): string[] => [requireEnv("JUDE_KAFKA_BOOTSTRAP")];

/** A topic name unique to this test run. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Creates topics (idempotent for existing ones), with topic configs such as `segment.bytes`. */
export async function createTopics(
  topics: string[],
  partitions = 1,
  configs: Record<string, string> = {},
): Promise<void> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    await admin.createTopics({
      topics,
      partitions,
      replicas: 1,
      configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
    });
  } finally {
    await admin.close();
  }
}

/** One changelog event: key, JSON value (or null for a tombstone), optional partition. */
export interface TestEvent {
  key: string;
  /** A string or Buffer is sent as is, null as a tombstone, anything else as JSON. */
  value: unknown;
  partition?: number;
  /** Record headers, sent as UTF-8; null is a header without a value (Kafka allows it). */
  headers?: Record<string, string | null>;
}

/** Produces events in order (acks=all) and resolves once the broker acknowledged them. */
export async function produceEvents(topic: string, events: readonly TestEvent[]): Promise<void> {
  const producer = new Producer({
    clientId: "jude-test-producer",
    bootstrapBrokers: bootstrapBrokers(),
    acks: -1,
    // A send retried after a timeout on a busy machine must not land twice: tests count records.
    idempotent: true,
  });
  try {
    for (const piece of chunk(events, 1000)) {
      await producer.send({
        messages: piece.map((event) => ({
          topic,
          key: Buffer.from(event.key),
          ...(event.value === null
            ? {}
            : {
                value: Buffer.isBuffer(event.value)
                  ? event.value
                  : Buffer.from(typeof event.value === "string" ? event.value : JSON.stringify(event.value)),
              }),
          ...(event.partition !== undefined ? { partition: event.partition } : {}),
          ...(event.headers !== undefined
            ? {
                headers: new Map(
                  Object.entries(event.headers).map(([name, value]) => [
                    Buffer.from(name),
                    // The client writes a null header value as Kafka's null (length -1).
                    (value === null ? null : Buffer.from(value)) as Buffer,
                  ]),
                ),
              }
            : {}),
        })),
      });
    }
  } finally {
    await producer.close();
  }
}

/** A record read back from a topic. */
export interface ReadRecord {
  key: string;
  value: Buffer | undefined;
  headers: Record<string, string>;
  partition: number;
  offset: bigint;
  timestampMs: number;
}

/** Records in a topic (end offsets summed; the test topics are never truncated or compacted). */
export async function recordCount(topic: string): Promise<number> {
  const consumer = new Consumer({
    clientId: "jude-test-offsets",
    groupId: uniqueTopic("offsets"),
    bootstrapBrokers: bootstrapBrokers(),
  });
  try {
    const offsets = await consumer.listOffsets({ topics: [topic] });
    return (offsets.get(topic) ?? []).reduce((sum, end) => sum + Number(end), 0);
  } finally {
    await consumer.close(true);
  }
}

/** Every record of a topic at the time of the call. */
export async function readAll(topic: string): Promise<ReadRecord[]> {
  return readTopic(topic, await recordCount(topic));
}

/** Reads `count` records from the start of a topic (fails after `timeoutMs` with what it got). */
export async function readTopic(topic: string, count: number, timeoutMs = 60_000): Promise<ReadRecord[]> {
  return readUntil(topic, (records) => records.length >= count, `${count} records`, timeoutMs);
}

/**
 * Every record a compacted topic still holds: read until each partition's last offset (the cleaner
 * never removes a partition's last record, which sits in its active segment).
 */
export async function readToEnd(topic: string, timeoutMs = 60_000): Promise<ReadRecord[]> {
  const consumer = new Consumer({
    clientId: "jude-test-offsets",
    groupId: uniqueTopic("offsets"),
    bootstrapBrokers: bootstrapBrokers(),
  });
  let ends: bigint[];
  try {
    ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
  } finally {
    await consumer.close(true);
  }
  const last = new Map(ends.flatMap((end, partition) => (end > 0n ? [[partition, end - 1n] as const] : [])));
  return readUntil(
    topic,
    (records) =>
      [...last].every(([partition, offset]) =>
        records.some((r) => r.partition === partition && r.offset === offset),
      ),
    "the end of every partition",
    timeoutMs,
  );
}

async function readUntil(
  topic: string,
  done: (records: readonly ReadRecord[]) => boolean,
  what: string,
  timeoutMs: number,
): Promise<ReadRecord[]> {
  const consumer = new Consumer({
    clientId: "jude-test-reader",
    groupId: uniqueTopic("reader"),
    bootstrapBrokers: bootstrapBrokers(),
    autocommit: false,
  });
  const records: ReadRecord[] = [];
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`read ${records.length} records of ${topic} but not ${what} within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      if (done(records)) {
        clearTimeout(timer);
        resolve();
      }
      stream.on("data", (message) => {
        const headers: Record<string, string> = {};
        // A header without a value (null) reads as "(null)".
        for (const [name, value] of message.headers)
          headers[name.toString()] = (value as Buffer | undefined)?.toString() ?? "(null)";
        records.push({
          key: message.key?.toString() ?? "",
          value: message.value?.length ? message.value : undefined,
          headers,
          partition: message.partition,
          offset: message.offset,
          timestampMs: Number(message.timestamp),
        });
        if (done(records)) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on("error", reject);
      // The client's one 'error' on the consumer: a group rejoin that failed (see the nearline worker).
      consumer.on("error", reject);
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return records;
}

/** The offsets a consumer group committed on a topic, summed over its partitions (0 when none). */
export async function committedOffsets(groupId: string, topic: string): Promise<number> {
  const offsets = await committedByPartition(groupId, topic);
  return [...offsets.values()].reduce((sum, offset) => sum + Math.max(0, offset), 0);
}

/** The offset a consumer group committed on each partition of a topic (none when it committed none). */
export async function committedByPartition(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const partitions = group?.topics.find((each) => each.name === topic)?.partitions ?? [];
    return new Map(partitions.map((each) => [each.partitionIndex, Number(each.committedOffset)]));
  } finally {
    await admin.close();
  }
}

/**
 * Commits `offsets` (by partition) as the consumer group's offsets on a topic, as its consumers do
 * after their sinks acknowledged, or the operator before a version's workers start.
 */
export async function commitGroupOffsets(
  groupId: string,
  topic: string,
  offsets: Record<number, number>,
): Promise<void> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: Object.entries(offsets).map(([partition, offset]) => ({
            partition: Number(partition),
            offset: BigInt(offset),
          })),
        },
      ],
    });
  } finally {
    await admin.close();
  }
}

/**
 * Whose offsets of which log a store records for consumer group `group` on `topic` (store/source-offsets.ts):
 * the group, the topic and Kafka's ID of it as the broker has it now.
 */
export async function offsetSourceOf(
  group: string,
  topic: string,
): Promise<{ group: string; topic: string; topicId: string }> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
    const topicId = metadata.topics.get(topic)?.id;
    if (topicId === undefined) throw new Error(`no metadata for topic ${topic}`);
    return { group, topic, topicId };
  } finally {
    await admin.close();
  }
}
