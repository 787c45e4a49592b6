/**
 * One measured run of the nearline worker for the pipeline benchmark: a fresh topic, store and
 * consumer group; events either produced up front (backlog: the maximum rate) or paced (freshness at
 * a given rate). The worker runs in this process against a real Kafka, Redis and embedding server.
 */
import { randomUUID } from "node:crypto";
import { Admin, Producer } from "@platformatic/kafka";
import { pino } from "pino";
import { nearlineConfigSchema } from "../pipelines/nearline/config.ts";
import { startNearline } from "../pipelines/nearline/app.ts";
import type { EmbedCall } from "../pipelines/shared/embedding.ts";
import { isRetryableEmbeddingError } from "../pipelines/embedding-client/client.ts";
import { changelogExtract, changelogTemplate, type ChangelogEvent } from "./changelog.ts";
import { percentile } from "./stats.ts";

export interface RunEnvironment {
  kafka: string;
  redisUrl: string;
  embedCall: EmbedCall;
  version: string;
  digest: string;
}

export interface RunShape {
  /** Micro-batch size (1 = the naive pipeline). */
  maxEvents: number;
  /** Texts per embedding call and calls in flight. */
  maxBatchSize: number;
  maxInflight: number;
  partitions: number;
}

export interface RunResult {
  events: number;
  seconds: number;
  events_per_s: number;
  embedded: number;
  embedded_per_s: number;
  skipped_unchanged: number;
  inference_calls: number;
  inference_texts: number;
  freshness_p50_ms?: number;
  freshness_p95_ms?: number;
}

/** Runs `events` through a fresh worker; `ratePerS` paces the producer (undefined = all up front). */
export async function runPipeline(
  env: RunEnvironment,
  shape: RunShape,
  events: readonly ChangelogEvent[],
  ratePerS?: number,
): Promise<RunResult> {
  const topic = `bench-pipeline-${randomUUID().slice(0, 8)}`;
  const admin = new Admin({ clientId: "bench-admin", bootstrapBrokers: [env.kafka] });
  await admin.createTopics({ topics: [topic], partitions: shape.partitions, replicas: 1 });
  await admin.close();
  process.env.JUDE_BENCH_STORE_URL = env.redisUrl;
  let inferenceCalls = 0;
  let inferenceTexts = 0;
  const countingCall: EmbedCall = async (texts, signal) => {
    inferenceCalls++;
    inferenceTexts += texts.length;
    return env.embedCall(texts, signal);
  };
  const config = nearlineConfigSchema.parse({
    pipeline: { namespace: "bench", name: topic },
    entity: "job",
    model: { version: env.version, digest: env.digest, dimensions: 384, template: changelogTemplate },
    source: { kafka: { bootstrapServers: [env.kafka], topic, consumerGroup: `${topic}-group` } },
    decode: { keyPath: "$.jobId", eventTimePath: "$.updatedAt" },
    extract: changelogExtract,
    embedding: { endpoint: "in-process", maxBatchSize: shape.maxBatchSize, maxInflight: shape.maxInflight },
    sinks: { store: { name: `bench-${topic.slice(-8)}`, url: { env: "JUDE_BENCH_STORE_URL" } } },
    batching: { maxEvents: shape.maxEvents, lingerMs: shape.maxEvents === 1 ? 0 : 5 },
    http: { port: 0 },
  });

  const freshness: number[] = [];
  // Idempotent (so acks from all replicas): a send retried after a timeout must not land twice, or the
  // worker consumes duplicates, skips them as unchanged and the run stops short of the real events.
  const producer = new Producer({
    clientId: "bench-producer",
    bootstrapBrokers: [env.kafka],
    acks: -1,
    idempotent: true,
  });
  const encode = (event: ChangelogEvent, time: number) => ({
    topic,
    key: Buffer.from(event.key),
    value: Buffer.from(JSON.stringify({ ...event.value, updatedAt: time })),
  });
  if (ratePerS === undefined) {
    for (let start = 0; start < events.length; start += 2_000) {
      await producer.send({
        messages: events.slice(start, start + 2_000).map((event, index) => encode(event, start + index + 1)),
      });
    }
  }

  const app = await startNearline(config, {
    logger: pino({ level: "warn" }),
    embedCall: countingCall,
    isRetryableEmbedError: isRetryableEmbeddingError,
    onBatch: (outcome, committedAt) => {
      if (ratePerS !== undefined)
        for (const time of outcome.visibleEventTimesMs) freshness.push(committedAt - time);
    },
  });
  const started = performance.now();
  try {
    if (ratePerS !== undefined) await producePaced(producer, events, ratePerS, encode);
    while (app.worker.totals.consumed < events.length) await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    await producer.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const totals = { ...app.worker.totals };
  await app.stop();
  return {
    events: events.length,
    seconds,
    events_per_s: events.length / seconds,
    embedded: totals.embedded,
    embedded_per_s: totals.embedded / seconds,
    skipped_unchanged: totals.skippedUnchanged,
    inference_calls: inferenceCalls,
    inference_texts: inferenceTexts,
    ...(ratePerS !== undefined
      ? { freshness_p50_ms: percentile(freshness, 0.5), freshness_p95_ms: percentile(freshness, 0.95) }
      : {}),
  };
}

/** Produces events at `ratePerS` in 10 ms ticks, each event stamped with its send time. */
async function producePaced(
  producer: Producer,
  events: readonly ChangelogEvent[],
  ratePerS: number,
  encode: (event: ChangelogEvent, time: number) => { topic: string; key: Buffer; value: Buffer },
): Promise<void> {
  const started = Date.now();
  let sent = 0;
  while (sent < events.length) {
    const due = Math.min(events.length, Math.floor(((Date.now() - started) / 1000) * ratePerS));
    if (due > sent) {
      const now = Date.now();
      await producer.send({ messages: events.slice(sent, due).map((event) => encode(event, now)) });
      sent = due;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
