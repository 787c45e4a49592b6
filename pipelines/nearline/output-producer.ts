/**
 * The nearline worker's Kafka producer of output and dead-letter records. A send that fails on a
 * transient Kafka error is retried where it stands (plumbing/retry.ts, layering), so a broker outage
 * does not send the batch back to decode and inference; producing twice is within at-least-once.
 */
import { Producer } from "@platformatic/kafka";
import { retry } from "../../plumbing/retry.ts";
import type { Logger } from "../../plumbing/logger.ts";
import { PipelineError, PipelineErrorCodes, someError } from "../shared/errors.ts";
import { isRetryableKafkaError, type kafkaClientOptions } from "../shared/kafka.ts";
import type { OutputRecord } from "./records.ts";

/** A producer of OutputRecords; `close` flushes and disconnects. */
export interface OutputProducer {
  produce(records: readonly OutputRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the producer (all in-sync replicas acknowledge each send). A topic's `max.message.bytes`
 * bounds each record batch the broker accepts (1 MiB by default), and one send becomes one batch per
 * partition: a send the broker refuses as too large is split in half until the halves fit, and later
 * sends keep to the smaller size. A record refused alone fails with OUTPUT_REFUSED: every record of
 * the topic has about its size, so skipping it would empty the topic; the topic's limit must grow.
 * Halves of a partly accepted send may repeat records, which at-least-once delivery allows.
 */
export function createOutputProducer(
  clientOptions: ReturnType<typeof kafkaClientOptions>,
  options: { signal: AbortSignal; onRetry: (error: unknown) => void; logger?: Logger },
): OutputProducer {
  const producer = new Producer({ ...clientOptions, acks: -1 });
  let budget = maxSendBytes;
  const send = (part: readonly OutputRecord[]) =>
    retry(() => producer.send({ messages: part.map(toMessage) }).then(() => undefined), {
      isRetryable: isRetryableKafkaError,
      onRetry: options.onRetry,
      signal: options.signal,
    });
  const sendFitting = async (part: readonly OutputRecord[]): Promise<void> => {
    try {
      await send(part);
    } catch (error) {
      if (!isRecordTooLarge(error)) throw error;
      const bytes = part.reduce((sum, record) => sum + sizeOf(record), 0);
      if (part.length === 1) throw refused(part[0]!, bytes, error);
      const smaller = Math.max(1, Math.floor(bytes / 2));
      if (smaller < budget) {
        options.logger?.warn(
          { topic: part[0]!.topic, refusedBytes: bytes, sendBytes: smaller },
          "a topic refused a send as too large (max.message.bytes); sending smaller batches",
        );
        budget = smaller;
      }
      const half = Math.ceil(part.length / 2);
      await sendFitting(part.slice(0, half));
      await sendFitting(part.slice(half));
    }
  };
  return {
    produce: async (records) => {
      // A few large dead letters in one send would otherwise exceed the default limit at once.
      for (const part of splitBySize(records, budget)) await sendFitting(part);
    },
    close: () => producer.close().catch(() => undefined),
  };
}

/** The broker refused a record batch for its size (the topic's max.message.bytes). */
function isRecordTooLarge(error: unknown): boolean {
  return someError(
    error,
    (candidate) => candidate.apiId === "MESSAGE_TOO_LARGE" || candidate.apiId === "RECORD_LIST_TOO_LARGE",
  );
}

function refused(record: OutputRecord, bytes: number, cause: unknown): PipelineError {
  return new PipelineError(
    PipelineErrorCodes.OUTPUT_REFUSED,
    `topic ${record.topic} refused a record of ${bytes} bytes (key, value and headers) as too large: ` +
      `raise the topic's max.message.bytes above it (nothing was committed; the batch is replayed)`,
    { cause },
  );
}

/** Bytes of records per send at first; a record larger than this is sent alone. */
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
  for (const [name, value] of headerEntries(record))
    bytes += Buffer.byteLength(name) + (value === null ? 0 : Buffer.byteLength(value));
  return bytes;
}

/** The carried headers, then the record's own (a Map keyed by distinct buffers keeps repeated names). */
function headerEntries(record: OutputRecord): (readonly [string | Buffer, string | Buffer | null])[] {
  return [...(record.carriedHeaders ?? []), ...Object.entries(record.headers)];
}

/** The message the Kafka client sends for `record`. */
export function toMessage(record: OutputRecord) {
  return {
    topic: record.topic,
    ...(record.key !== undefined ? { key: bytes(record.key) } : {}),
    ...(record.value !== undefined ? { value: bytes(record.value) } : {}),
    // A header without a value goes as Kafka's null (the client writes length -1 for it).
    headers: new Map(
      headerEntries(record).map(([name, value]) => [
        bytes(name),
        (value === null ? null : bytes(value)) as Buffer,
      ]),
    ),
  };
}

function bytes(value: string | Buffer): Buffer {
  return typeof value === "string" ? Buffer.from(value) : value;
}
