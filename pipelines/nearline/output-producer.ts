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
    produce: (records) =>
      retry(() => producer.send({ messages: records.map(toMessage) }).then(() => undefined), {
        isRetryable: isRetryableKafkaError,
        onRetry: options.onRetry,
        signal: options.signal,
      }),
    close: () => producer.close().catch(() => undefined),
  };
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
