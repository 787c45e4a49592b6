/**
 * The nearline worker's Kafka producer of output and dead-letter records. A send that fails on a
 * transient Kafka error is retried where it stands (plumbing/retry.ts, layering), so a broker outage
 * does not send the batch back to decode and inference; producing twice is within at-least-once.
 */
import { Producer } from "@platformatic/kafka";
import { retry } from "../../plumbing/retry.ts";
import { isRetryableKafkaError, type kafkaClientOptions } from "../shared/kafka.ts";
import type { OutputRecord } from "./records.ts";

/** A producer of OutputRecords; `close` flushes and disconnects. */
export interface OutputProducer {
  produce(records: readonly OutputRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Opens the producer (all in-sync replicas acknowledge each send). */
export function createOutputProducer(
  clientOptions: ReturnType<typeof kafkaClientOptions>,
  options: { signal: AbortSignal; onRetry: (error: unknown) => void },
): OutputProducer {
  const producer = new Producer({ ...clientOptions, acks: -1 });
  return {
    produce: async (records) => {
      // One send becomes one record batch per partition, and the broker refuses a batch over its
      // message limit (1 MiB by default): a few large dead letters in one send would stop the worker.
      for (const part of splitBySize(records, maxSendBytes)) {
        await retry(() => producer.send({ messages: part.map(toMessage) }).then(() => undefined), {
          isRetryable: isRetryableKafkaError,
          onRetry: options.onRetry,
          signal: options.signal,
        });
      }
    },
    close: () => producer.close().catch(() => undefined),
  };
}

/** Bytes of records per send; a record larger than this alone is sent alone. */
export const maxSendBytes = 512 * 1024;

/** Splits records, in order, into runs of at most `budget` bytes (keys, values and headers). */
export function splitBySize(records: readonly OutputRecord[], budget: number): OutputRecord[][] {
  const parts: OutputRecord[][] = [];
  let current: OutputRecord[] = [];
  let size = 0;
  for (const record of records) {
    const bytes = sizeOf(record);
    if (current.length > 0 && size + bytes > budget) {
      parts.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += bytes;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

function sizeOf(record: OutputRecord): number {
  let bytes = 0;
  for (const part of [record.key, record.value]) if (part !== undefined) bytes += Buffer.byteLength(part);
  for (const [name, value] of Object.entries(record.headers))
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

function toMessage(record: OutputRecord) {
  return {
    topic: record.topic,
    ...(record.key !== undefined ? { key: bytes(record.key) } : {}),
    ...(record.value !== undefined ? { value: bytes(record.value) } : {}),
    headers: new Map(Object.entries(record.headers).map(([name, value]) => [bytes(name), bytes(value)])),
  };
}

function bytes(value: string | Buffer): Buffer {
  return typeof value === "string" ? Buffer.from(value) : value;
}
