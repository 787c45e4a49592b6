/**
 * Wires one nearline worker from its config: store, embedding client, Kafka consumer and producer,
 * metrics and the ops endpoint. `main.ts` adds process concerns (config file, signals, exit code);
 * tests start the same app in-process.
 */
import { Producer } from "@platformatic/kafka";
import type { Logger } from "../../plumbing/logger.ts";
import { drainWithin } from "../../plumbing/shutdown.ts";
import { Registry } from "prom-client";
import {
  createStoreMetrics,
  DEFAULT_RETRY_POLICY,
  isStoreError,
  registerVersion,
  StoreWriter,
} from "../../store/index.ts";
import { BatchedEmbedder, type EmbedCall } from "../shared/embedding.ts";
import { isRetryableKafkaError, kafkaClientOptions } from "../shared/kafka.ts";
import { createPipelineMetrics } from "../shared/metrics.ts";
import { startOpsServer, type OpsServer } from "../shared/ops-server.ts";
import { openPipelineStore } from "../shared/store-connection.ts";
import type { NearlineConfig } from "./config.ts";
import { createProcessor, type BatchOutcome } from "./processor.ts";
import type { OutputRecord } from "./records.ts";
import { NearlineWorker } from "./worker.ts";

export interface NearlineApp {
  worker: NearlineWorker;
  ops: OpsServer;
  registry: Registry;
  /** Drains: finishes and commits the batch in hand, then closes every connection. */
  stop(): Promise<void>;
}

export interface NearlineDependencies {
  logger: Logger;
  /** One call to the embedding server; errors it marks retryable are retried. */
  embedCall: EmbedCall;
  isRetryableEmbedError: (error: unknown) => boolean;
  registry?: Registry;
  /** How long `stop` waits for the batch in hand before abandoning it (default 20 s). */
  drainMs?: number;
  /** Called after each committed batch (benchmarks measure freshness from it). */
  onBatch?: (outcome: BatchOutcome, committedAtMs: number) => void;
}

/** Starts a worker; resolves once it consumes. */
export async function startNearline(
  config: NearlineConfig,
  deps: NearlineDependencies,
): Promise<NearlineApp> {
  const registry = deps.registry ?? new Registry();
  const labels = {
    pipeline: `${config.pipeline.namespace}/${config.pipeline.name}`,
    version: config.model.version,
  };
  const logger = deps.logger.child({
    pipeline: labels.pipeline,
    entity: config.entity,
    version: labels.version,
  });
  const metrics = createPipelineMetrics(registry);
  const abort = new AbortController();

  const { client, store } = await openPipelineStore(config.sinks.store, {
    connectionName: `jude-nearline-${config.pipeline.name}-${config.model.version}`,
    metrics: createStoreMetrics(registry),
  });
  await registerVersion(store, config.model.version, {
    modelDigest: config.model.digest,
    dimension: config.model.dimensions,
    dtype: config.sinks.store.dtype,
  });
  const writer = new StoreWriter(store, {
    dtype: config.sinks.store.dtype,
    // No deadline: a Redis outage of any length pauses the batch at its writes instead of failing them
    // to the batch retry, which would decode and embed the batch again (plumbing/retry.ts, layering).
    retry: { ...DEFAULT_RETRY_POLICY, deadlineMs: undefined },
    signal: abort.signal,
    onRetry: (attempt, error, pending) =>
      logger.warn({ attempt, err: error, pending }, "store unavailable; retrying writes"),
  });

  const clientOptions = kafkaClientOptions(
    config.source.kafka,
    `jude-nearline-${config.pipeline.name}-${config.model.version}`,
  );
  const producer = new Producer({ ...clientOptions, acks: -1 });
  const bytes = (value: string | Buffer): Buffer => (typeof value === "string" ? Buffer.from(value) : value);
  const produce = async (records: readonly OutputRecord[]): Promise<void> => {
    const stop = metrics.phaseSeconds.startTimer({ ...labels, phase: "produce" });
    await producer.send({
      messages: records.map((record) => ({
        topic: record.topic,
        ...(record.key !== undefined ? { key: bytes(record.key) } : {}),
        ...(record.value !== undefined ? { value: bytes(record.value) } : {}),
        headers: new Map(Object.entries(record.headers).map(([name, value]) => [bytes(name), bytes(value)])),
      })),
    });
    stop();
  };

  const embedder = new BatchedEmbedder(deps.embedCall, {
    maxBatchSize: config.embedding.maxBatchSize,
    maxInflight: config.embedding.maxInflight,
    isRetryable: deps.isRetryableEmbedError,
    signal: abort.signal,
    onRetry: (error, attempt) => {
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      if (attempt === 1 || attempt % 10 === 0)
        logger.warn({ err: error, attempt }, "embedding server unavailable; retrying");
    },
    onCall: (texts) => {
      metrics.inferenceCalls.inc(labels);
      metrics.inferenceTexts.inc(labels, texts);
    },
  });

  const processBatch = createProcessor({
    entity: config.entity,
    modelVersion: config.model.version,
    modelDigest: config.model.digest,
    template: config.model.template,
    extract: config.extract,
    decode: config.decode,
    changeDetection: config.changeDetection.enabled,
    outputTopic: config.sinks.kafka?.topic,
    deadLetterTopic: config.sinks.deadLetter?.topic,
    store: {
      readMeta: (version, keys) => timed("detect", () => writer.readMeta(version, keys)),
      write: (writes) => timed("store", () => writer.write(writes)),
    },
    embed: (texts) => timed("inference", () => embedder.embed(texts)),
    produce,
    onDeadLetter: (record, code, reason) => {
      metrics.deadLettered.inc({ ...labels, code });
      logger.warn(
        { code, reason, partition: record.partition, offset: record.offset.toString() },
        "event dead-lettered",
      );
    },
  });
  async function timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const stop = metrics.phaseSeconds.startTimer({ ...labels, phase });
    try {
      return await work();
    } finally {
      stop();
    }
  }

  const worker = new NearlineWorker({
    kafka: { clientOptions },
    topic: config.source.kafka.topic,
    consumerGroup: config.source.kafka.consumerGroup,
    startOffset: config.source.kafka.startOffset,
    batching: config.batching,
    process: processBatch,
    isRetryable: (error) =>
      (isStoreError(error) && error.retryable) ||
      isRetryableKafkaError(error) ||
      deps.isRetryableEmbedError(error),
    metrics,
    labels,
    logger,
    ...(deps.onBatch !== undefined ? { onBatch: deps.onBatch } : {}),
  });
  await worker.start();
  const ops = await startOpsServer({
    port: config.http.port,
    registry,
    ready: () => worker.ready,
    // A failed worker says why on /readyz (e.g. MODEL_MISMATCH), for whoever looks at the probe.
    status: () => ({
      ...worker.totals,
      ...(worker.failure !== undefined ? { error: failureOf(worker.failure) } : {}),
    }),
  });
  logger.info(
    { topic: config.source.kafka.topic, group: config.source.kafka.consumerGroup, port: ops.port },
    "nearline worker consuming",
  );

  let stopping: Promise<void> | undefined;
  return {
    worker,
    ops,
    registry,
    stop: () =>
      (stopping ??= (async () => {
        // The batch in hand normally finishes in well under the drain time; if a dependency is down,
        // stop waiting for it after `drainMs` (the batch stays uncommitted and is replayed later).
        await drainWithin(worker.stop(), deps.drainMs ?? 20_000, () => abort.abort());
        abort.abort();
        await producer.close().catch(() => undefined);
        await ops.close();
        await client.quit().catch(() => undefined);
        logger.info({ ...worker.totals }, "nearline worker stopped");
      })()),
  };
}

/** The code and message of a worker failure, as /readyz shows it. */
function failureOf(error: unknown): { code: string; message: string } {
  const code = (error as { code?: unknown }).code;
  return {
    code: typeof code === "string" ? code : "INTERNAL",
    message: error instanceof Error ? error.message : String(error),
  };
}
