/**
 * Wires one nearline worker from its config: store, embedding client, Kafka consumer and producer,
 * metrics and the ops endpoint. `main.ts` adds process concerns (config file, signals, exit code);
 * tests start the same app in-process.
 */
import type { Logger } from "../../plumbing/logger.ts";
import { retry, type RetryOptions } from "../../plumbing/retry.ts";
import { drainWithin } from "../../plumbing/shutdown.ts";
import { Registry } from "prom-client";
import {
  checkDurabilitySupport,
  createStoreMetrics,
  DEFAULT_RETRY_POLICY,
  dropConnection,
  isCluster,
  adoptLegacySourceOffsets,
  initSourceOffsets,
  isStoreError,
  isStoreOutage,
  readSourceOffsets,
  registerVersion,
  StoreWriter,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import { DependencyWait, registerDependencyWaitMetric, whileUnanswered } from "../shared/dependency-wait.ts";
import type { TokenRefusalListener } from "../shared/embed-client.ts";
import { embeddingErrorStatus } from "../embedding-client/errors.ts";
import type { EmbedCall } from "../shared/embedding.ts";
import { createNearlineEmbedding, type NearlineEmbedding } from "./embedding-policy.ts";
import { quantileOf, sampleCount, type FreshnessSketch } from "../shared/freshness-sketch.ts";
import { isKafkaOutage, isRetryableKafkaError, kafkaClientOptions, requireTopics } from "../shared/kafka.ts";
import {
  collectPipelineProcessMetrics,
  createPipelineMetrics,
  timePhase,
  type PipelineMetrics,
} from "../shared/metrics.ts";
import { startOpsServer, type OpsServer } from "../shared/ops-server.ts";
import { openPipelineStore } from "../shared/store-connection.ts";
import { workerDrainMs, type NearlineConfig } from "./config.ts";
import { createProcessor, type BatchOutcome, type BatchShape, type BatchStep } from "./processor.ts";
import { createOutputProducer, type OutputProducer } from "./output-producer.ts";
import { createReplayMetrics, StoreOffsetLedger } from "./store-offsets.ts";
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
  /** Where the metrics go (a new registry when absent); the process metrics are added to it. */
  registry?: Registry;
  /** How long `stop` waits for the batch in hand before abandoning it (default workerDrainMs, 20 s). */
  drainMs?: number;
  /**
   * Where the embedding connection tells of calls refused for their token and retried inside
   * `embedCall` (connectEmbedding's watchTokenRefusals): each is counted in
   * jude_pipeline_embedding_errors_total{status="UNAUTHENTICATED"} and retries_total, and the batch
   * in hand is reported waiting on the embedding server (/readyz `waitingOn`, dependency_wait_seconds).
   */
  watchTokenRefusals?: (listener: TokenRefusalListener) => void;
  /** Called after each committed batch (benchmarks measure freshness from it). */
  onBatch?: (outcome: BatchOutcome, committedAtMs: number) => void;
  /** Static group membership id (`jude nearline` passes JUDE_POD_NAME); see NearlineWorker. */
  groupInstanceId?: string | undefined;
  /** Awaited at each step of a batch attempt; fault tests hold a batch there. Unset in production. */
  atStep?: (step: BatchStep, batch: BatchShape) => Promise<void>;
}

/**
 * How long the store may take to answer the QUIT that ends a stop before the worker drops its
 * connection. A store that accepts and never answers (a frozen link, a stalled host) fails the QUIT
 * only after the command timeout (10 s, plus `durability.timeoutMs`), and the socket then stays open:
 * the process outlived the pod's grace period (the drain's 20 s and 10 s for the closes) until
 * SIGKILL. A store that answers takes milliseconds; nothing is left to write by then (the batch in
 * hand was committed or abandoned uncommitted).
 */
export const storeQuitMs = 3_000;

/** Starts a worker; resolves once it consumes. */
export async function startNearline(
  config: NearlineConfig,
  deps: NearlineDependencies,
): Promise<NearlineApp> {
  const registry = deps.registry ?? new Registry();
  collectPipelineProcessMetrics(registry);
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
  // The batch in hand waiting on a dependency: /readyz and a metric say which and for how long.
  const wait = new DependencyWait();
  registerDependencyWaitMetric(registry, labels, wait);
  // Aborted when a drain runs out of time: every retry loop of the batch in hand then stops.
  const abort = new AbortController();
  const clientOptions = kafkaClientOptions(
    config.source.kafka,
    `jude-nearline-${config.pipeline.name}-${config.model.version}`,
  );
  // Up before the waits below, so that the start-up retries can be scraped. /readyz answers 503 until
  // the worker consumes, and /healthz 503 too: the startup probe (five minutes) still restarts a
  // container whose dependencies stay away, as when nothing listened before the waits.
  let started: NearlineWorker | undefined;
  let consuming = false;
  const ops = await startOpsServer({
    port: config.http.port,
    registry,
    live: () => consuming,
    ready: () => started?.ready === true,
    // Before the worker consumes: what its start waits on (brokers down or hung), if anything.
    status: () => (started !== undefined ? statusOf(started, wait) : waitingOn(wait)),
  });
  // Brokers down as the worker starts (restarting, a network not up yet) are waited out like a store
  // outage (openVersionStore): exit 1 would crash-loop the pod for brokers that come back. Logged and
  // counted at each try; an answer no retry helps (KAFKA_REFUSED, TOPIC_MISSING) fails at once. The
  // line names the brokers: the client's error does not always (a port that closes the connection).
  // Reported on /readyz (`waitingOn`) as a batch's wait is: the NearlinePipeline says it too.
  const kafkaOutage: RetryOptions = {
    isRetryable: isKafkaOutage,
    onRetry: (error, attempt) => {
      metrics.retries.inc({ ...labels, dependency: "kafka" });
      wait.retried("kafka", error);
      logger.warn(
        { err: error, attempt, brokers: config.source.kafka.bootstrapServers },
        "kafka unavailable at start; retrying",
      );
    },
  };
  // What the start opened, closed again (last first) if a later step fails: an open connection would
  // keep the process alive where `jude nearline` must exit 1.
  const closeOnFailure: (() => unknown)[] = [() => ops.close()];
  try {
    // Before the store opens: a missing topic is a configuration error, not a dependency to wait for.
    // Brokers that hang (connections open, no answers) are said within seconds too, not only when
    // the client fails the call after its request timeout and retries (minutes).
    await retry(
      () =>
        whileUnanswered(
          () =>
            requireTopics(clientOptions, [
              { topic: config.source.kafka.topic, role: "changelog topic (source.kafka.topic)" },
              ...(config.sinks.kafka !== undefined
                ? [{ topic: config.sinks.kafka.topic, role: "output topic (sinks.kafka.topic)" }]
                : []),
              ...(config.sinks.deadLetter !== undefined
                ? [
                    {
                      topic: config.sinks.deadLetter.topic,
                      role: "dead-letter topic (sinks.deadLetter.topic)",
                      notCompacted: true,
                    },
                  ]
                : []),
            ]),
          {
            wait,
            dependency: "kafka",
            onUnanswered: (error) => {
              metrics.retries.inc({ ...labels, dependency: "kafka" });
              logger.warn(
                { err: error, brokers: config.source.kafka.bootstrapServers },
                "kafka does not answer at start; waiting",
              );
            },
          },
        ),
      kafkaOutage,
    );
    // The brokers answered: a wait for the store below must not be said as the brokers' (the
    // NearlinePipeline would blame Kafka for it).
    wait.settled();
    // Counted like the batch's own retries: a batch waiting at its writes retries inside the writer
    // (no deadline), and jude_pipeline_retries_total{dependency} is what names the dependency it waits on.
    const { client, store, writer } = await openVersionStore(config, registry, abort.signal, logger, {
      onWriteRetry: (error) => {
        metrics.retries.inc({ ...labels, dependency: "store" });
        wait.retried("store", error);
      },
      // Reported on /readyz as the brokers' wait above is.
      onOpenRetry: (error) => {
        metrics.retries.inc({ ...labels, dependency: "store" });
        wait.retried("store", error);
      },
    });
    // The store answered: the join's wait for the brokers, if any, counts from its own first try.
    wait.settled();
    closeOnFailure.push(() => client.disconnect());
    const producer = createOutputProducer(clientOptions, {
      signal: abort.signal,
      logger,
      onRetry: (error) => {
        metrics.retries.inc({ ...labels, dependency: "kafka" });
        wait.retried("kafka", error);
        logger.warn({ err: error }, "output produce failed; retrying");
      },
    });
    closeOnFailure.push(() => producer.close());
    const embedding = createNearlineEmbedding(
      deps.embedCall,
      {
        maxBatchSize: config.embedding.maxBatchSize,
        maxInflight: config.embedding.maxInflight,
        isRetryable: deps.isRetryableEmbedError,
        signal: abort.signal,
      },
      { metrics, labels, logger, onRetry: (error) => wait.retried("embedding", error) },
    );
    // A refused token is retried inside the call (a rotation takes up to a minute or so to reach every
    // pod), so the embedder above never sees those failures: count and report them here, or a worker
    // with a wrong token looks healthy to every alert until it gives up at the bound.
    deps.watchTokenRefusals?.(({ error }) => {
      if (abort.signal.aborted) return;
      metrics.embeddingErrors.inc({ ...labels, status: embeddingErrorStatus(error) });
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      wait.retried(
        "embedding",
        new Error(
          `the embedding server refuses the bearer token (${error.message}); reading it again and retrying`,
          {
            cause: error,
          },
        ),
      );
    });
    // Each batch records its source offsets in the store with its writes (store-offsets.ts), under its
    // group and topic (the topic's ID the worker reads at each check).
    const { version } = config.model;
    const ledger = new StoreOffsetLedger(
      version,
      { group: config.source.kafka.consumerGroup, topic: config.source.kafka.topic },
      {
        write: async (marks) => {
          await writer.write([], marks);
        },
        read: async (source, partitions) => {
          const adopted = await adoptLegacySourceOffsets(store, version, source, partitions);
          if (adopted.length > 0)
            logger.info(
              { topic: source.topic, partitions: adopted },
              "adopted the source offsets the release before recorded (field <topic>:<partition>)",
            );
          return readSourceOffsets(store, version, source, partitions);
        },
        init: (source, offsets) => initSourceOffsets(store, version, source, offsets),
      },
    );
    const processBatch = wireProcessor(config, {
      writer,
      ledger,
      embedding,
      producer,
      metrics,
      labels,
      logger,
      atStep: deps.atStep,
    });

    const worker = new NearlineWorker({
      kafka: { clientOptions },
      topic: config.source.kafka.topic,
      consumerGroup: config.source.kafka.consumerGroup,
      startOffset: config.source.kafka.startOffset,
      sessionTimeoutMs: config.source.kafka.sessionTimeoutMs,
      batching: config.batching,
      process: processBatch,
      isRetryable: (error) =>
        (isStoreError(error) && error.retryable) ||
        isRetryableKafkaError(error) ||
        deps.isRetryableEmbedError(error),
      metrics,
      labels,
      logger,
      groupInstanceId: deps.groupInstanceId,
      signal: abort.signal,
      wait,
      storeOffsets: { ledger, metrics: createReplayMetrics(registry) },
      joinRetry: kafkaOutage,
      ...(deps.onBatch !== undefined ? { onBatch: deps.onBatch } : {}),
    });
    started = worker;
    closeOnFailure.push(() => worker.stop());
    await worker.start();
    consuming = true;
    // A connection back after a drop may reach a server restarted behind (an older snapshot, no
    // persistence, a replica promoted behind): the store's offsets are compared again.
    client.on("ready", () => worker.requestStoreCheck("store reconnected"));
    // A Cluster client stays ready while one node's connection drops (that primary restarted or failed
    // over) and opens a new one when a command needs it: the drop is the cue, and the check's read then
    // waits for the node or its successor.
    if (isCluster(client)) client.on("-node", () => worker.requestStoreCheck("store node connection lost"));
    logger.info(
      {
        topic: config.source.kafka.topic,
        group: config.source.kafka.consumerGroup,
        groupInstanceId: deps.groupInstanceId,
        port: ops.port,
        msSinceProcessStart: Math.round(performance.now()),
      },
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
          // Past the drain the store connection is dropped too: a command in flight to a store that
          // hangs would hold the abandoned batch for its command timeout (10 s, plus the durability
          // wait) after the abort; dropped, it fails at once and the batch stays uncommitted. Also a
          // command queued while the client waits to reconnect (a store down): see dropConnection.
          const dropStore = (): void => dropConnection(client);
          await drainWithin(worker.stop(), deps.drainMs ?? workerDrainMs, () => {
            abort.abort();
            dropStore();
          });
          abort.abort();
          await producer.close();
          await ops.close();
          // A QUIT to a store that hangs waits like any command: dropped after storeQuitMs. One that
          // failed (its timeout, or sent while the client reconnects after a timed-out command) leaves
          // the socket or the reconnects open, which would keep the process alive: dropped too.
          const quitDeadline = setTimeout(dropStore, storeQuitMs).unref();
          await client.quit().catch(() => undefined);
          clearTimeout(quitDeadline);
          if (client.status !== "end") dropStore();
          logger.info({ ...worker.totals }, "nearline worker stopped");
        })()),
    };
  } catch (error) {
    abort.abort();
    for (const close of closeOnFailure.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
    throw error;
  }
}

/** What /readyz shows of a worker that started, besides `ready`. */
function statusOf(worker: NearlineWorker, wait: DependencyWait): Record<string, unknown> {
  return {
    ...worker.totals,
    // Unknown (before the first lag check, or a figure too old to stand): no lag at all, not 0.
    ...(Object.keys(worker.lag.partitions).length > 0 ? { lag: worker.lag } : {}),
    sourceRecordsLost: worker.recordsLost,
    ...(worker.replays.replays > 0 ? { storeReplays: worker.replays } : {}),
    freshness: freshnessReport(worker.freshness()),
    // A failed worker says why on /readyz (e.g. MODEL_MISMATCH), for whoever looks at the probe; a
    // worker whose batch waits on a dependency says which (the probe stays green: dependency-wait.ts).
    ...(worker.failure !== undefined ? { error: failureOf(worker.failure) } : {}),
    ...waitingOn(wait),
  };
}

/**
 * Opens the store, registers this version with its entity's prompt template (another digest or
 * template than registered is refused) and builds its writer.
 *
 * A store unreachable as the worker starts (a Redis restarting beside it, a failover) is waited out,
 * each step retried (all idempotent), logged and counted, instead of failing the start: exit 1 would
 * crash-loop the pod for a store that comes back. A failure no retry helps (a refused registration, a
 * wrong password) still fails the start at once. SIGTERM meanwhile ends the process at once: `jude
 * nearline` installs its shutdown handlers only once the worker consumes, as nothing is in hand before.
 * The pod's startup probe allows five minutes (controllers/nearline-pipeline/worker-deployment.ts); a
 * longer outage restarts the container, which waits again.
 */
async function openVersionStore(
  config: NearlineConfig,
  registry: Registry,
  signal: AbortSignal,
  logger: Logger,
  reporting: { onWriteRetry: (error: unknown) => void; onOpenRetry: (error: unknown) => void },
): Promise<{ client: RedisClient; store: Store; writer: StoreWriter }> {
  const outage: RetryOptions = {
    isRetryable: isStoreOutage,
    onRetry: (error, attempt) => {
      reporting.onOpenRetry(error);
      logger.warn({ err: error, attempt }, "store unavailable at start; retrying");
    },
  };
  const metrics = createStoreMetrics(registry);
  const { client, store } = await retry(
    () =>
      openPipelineStore(config.sinks.store, {
        connectionName: `jude-nearline-${config.pipeline.name}-${config.model.version}`,
        metrics,
      }),
    outage,
  );
  try {
    await retry(() => checkDurabilitySupport(client, config.sinks.store.durability), outage);
    await retry(
      () =>
        registerVersion(store, config.model.version, {
          modelDigest: config.model.digest,
          dimension: config.model.dimensions,
          dtype: config.sinks.store.dtype,
          prompts: { [config.entity]: config.model.template },
          vectorSettings: config.model.vectorSettings,
        }),
      outage,
    );
  } catch (error) {
    // The process must be able to exit 1: an open connection would keep it alive.
    client.disconnect();
    throw error;
  }
  const writer = new StoreWriter(store, {
    dtype: config.sinks.store.dtype,
    // No deadline: a Redis outage of any length pauses the batch at its writes instead of failing them
    // to the batch retry, which would decode and embed the batch again (plumbing/retry.ts, layering).
    retry: { ...DEFAULT_RETRY_POLICY, deadlineMs: undefined },
    signal,
    durability: config.sinks.store.durability,
    onRetry: (attempt, error, pending) => {
      reporting.onWriteRetry(error);
      logger.warn({ attempt, err: error, pending }, "store unavailable; retrying writes");
    },
  });
  return { client, store, writer };
}

/** The batch processor wired to this worker's store, embedder and producer, each step timed. */
function wireProcessor(
  config: NearlineConfig,
  parts: {
    writer: StoreWriter;
    ledger: StoreOffsetLedger;
    embedding: NearlineEmbedding;
    producer: OutputProducer;
    metrics: PipelineMetrics;
    labels: { pipeline: string; version: string };
    logger: Logger;
    atStep: NearlineDependencies["atStep"];
  },
): ReturnType<typeof createProcessor> {
  const { writer, ledger, embedding, producer, metrics, labels, logger, atStep } = parts;
  const timed = <T>(phase: string, work: () => Promise<T>): Promise<T> =>
    timePhase(metrics, { ...labels, phase }, work);
  return createProcessor({
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
      write: (writes) => timed("store", () => writer.write(writes, ledger.marks())),
    },
    embed: (texts) => timed("inference", () => embedding.embedder.embed(texts)),
    isRefusedInput: embedding.isRefusedInput,
    serverFailures: embedding.serverFailures,
    produce: (records) => timed("produce", () => producer.produce(records)),
    // Logged at each attempt of the batch; counted (jude_pipeline_dead_lettered_total) by the worker
    // once the batch is committed. `id`, the entity id (absent for an event that did not decode, and
    // named as bootstrap's "record not written" names it), is what an operator searches by; never the
    // record's value or a vector, which may hold anything.
    onDeadLetter: (record, code, reason, id) => {
      logger.warn(
        { code, reason, id, partition: record.partition, offset: record.offset.toString() },
        "event dead-lettered",
      );
    },
    ...(atStep !== undefined ? { atStep } : {}),
  });
}

/**
 * Freshness as /readyz shows it: the p95 and sample count for whoever curls it, and the sketch itself,
 * which the operator merges over a version's workers (controllers/nearline-pipeline/worker-figures.ts).
 */
function freshnessReport(sketch: FreshnessSketch): Record<string, unknown> {
  const p95 = quantileOf(sketch, 0.95);
  return {
    ...(p95 !== undefined ? { p95Ms: Math.round(p95) } : {}),
    samples: sampleCount(sketch),
    ...sketch,
  };
}

/** `waitingOn` for /readyz while the batch in hand waits on a dependency. */
function waitingOn(wait: DependencyWait): { waitingOn?: ReturnType<DependencyWait["report"]> } {
  const report = wait.report();
  return report !== undefined ? { waitingOn: report } : {};
}

/** The code and message of a worker failure, as /readyz shows it. */
function failureOf(error: unknown): { code: string; message: string } {
  // The status name of an embedding server's refusal (UNAUTHENTICATED, NOT_FOUND), or a pipeline error's
  // code, as the metrics name it; INTERNAL for an error without one.
  const code = embeddingErrorStatus(error);
  return {
    code: code === "OTHER" ? "INTERNAL" : code,
    message: error instanceof Error ? error.message : String(error),
  };
}
