/**
 * Kafka messages as the nearline worker uses them: as processor records, and as the positions a
 * processed batch moves each partition to (what its commit stores).
 */
import type { Message } from "@platformatic/kafka";
import type { ConsumedRecord } from "./processor.ts";

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** Where a partition continues: the offset after a processed record (what a commit stores). */
export interface NextOffset {
  topic: string;
  partition: number;
  offset: bigint;
  leaderEpoch: number;
}

/** Per `topic/partition`, the offset after the last of `messages`. */
export function nextOffsets(messages: readonly RawMessage[]): Map<string, NextOffset> {
  const next = new Map<string, NextOffset>();
  for (const message of messages) {
    const key = `${message.topic}/${message.partition}`;
    const current = next.get(key);
    if (current === undefined || message.offset + 1n > current.offset) {
      next.set(key, {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset + 1n,
        leaderEpoch: message.leaderEpoch,
      });
    }
  }
  return next;
}

export function toRecord(message: RawMessage): ConsumedRecord {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key?.length ? message.key : null,
    // Null (a tombstone) and empty (a value that decodes to nothing) differ; keep them apart.
    value: message.value ?? null,
    headers: message.headers,
  };
}
