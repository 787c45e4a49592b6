// Kafka for the quickstart: the changelog topics of one run, and producing the generated events with
// their event time set as they are sent, paced like a live stream so freshness means something.
import { setTimeout as sleep } from "node:timers/promises";
import { Admin, Producer } from "@platformatic/kafka";
import type { ChangeEvent, EntityKind } from "./changelog.ts";
import { toRecord } from "./records.ts";

/** The dead-letter topic the quickstart's pipelines name for a changelog topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Creates the topics (and their dead-letter topics); existing ones are left alone. */
export async function createChangelogTopics(
  bootstrap: string,
  topics: string[],
  partitions = 2,
): Promise<void> {
  const admin = new Admin({ clientId: "jude-quickstart", bootstrapBrokers: [bootstrap] });
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics
      .flatMap((topic) => [topic, deadLetterTopic(topic)])
      .filter((topic) => !existing.has(topic));
    if (missing.length > 0) await admin.createTopics({ topics: missing, partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

export interface ProduceOptions {
  bootstrap: string;
  topics: Record<EntityKind, string>;
  /** Events per second; undefined sends as fast as the broker takes them. */
  ratePerSecond?: number;
  onProgress?: (sent: number, total: number) => void;
}

/** Produces the events in order (acks from all replicas), in batches of up to 100. */
export async function produceChangelog(
  events: readonly ChangeEvent[],
  options: ProduceOptions,
): Promise<void> {
  // Idempotent: a batch retried after a timeout (a busy machine) must not land twice, or the
  // snapshot would hold more records than the generator made and the expected figures would not hold.
  const producer = new Producer({
    clientId: "jude-quickstart",
    bootstrapBrokers: [options.bootstrap],
    acks: -1,
    idempotent: true,
  });
  const batch = 100;
  const started = Date.now();
  try {
    for (let index = 0; index < events.length; index += batch) {
      const now = Date.now();
      await producer.send({
        messages: events.slice(index, index + batch).map((event) => {
          const record = toRecord(event, now, options.topics);
          return { topic: record.topic, key: Buffer.from(record.key), value: Buffer.from(record.value) };
        }),
      });
      const sent = Math.min(index + batch, events.length);
      options.onProgress?.(sent, events.length);
      if (options.ratePerSecond !== undefined) {
        const due = started + (sent / options.ratePerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    }
  } finally {
    await producer.close();
  }
}
