/**
 * Wires one bootstrap shard from its config: store and checkpoint, embedding (deduplicated through the
 * store's text cache), Kafka or file source, metrics, the optional ops endpoint and progress lines.
 * `main.ts` adds process concerns (config file, signals, exit code); tests run the same app in-process
 * with their own embedding call to count inference at the boundary.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import {
  checkDurabilitySupport,
  createStoreMetrics,
  dropConnection,
  isStoreOutage,
  StoreWriter,
  type Store,
} from "../../store/index.ts";
import {
  describeEmbeddingError,
  embeddingErrorStatus,
  isCancelledEmbeddingCall,
  isEmbeddingServerFailure,
  isRefusedEmbeddingInput,
} from "../embedding-client/errors.ts";
import {
  createPipelineEmbedder,
  createServerFailurePolicy,
  type EmbedCall,
  type EmbedderReporting,
} from "../shared/embedding.ts";
import type { TokenRefusalListener } from "../shared/embed-client.ts";
import { kafkaClientOptions } from "../shared/kafka.ts";
import { createBootstrapMetrics, createPipelineMetrics } from "../shared/metrics.ts";
import { startOpsServer, type OpsServer } from "../shared/ops-server.ts";
import { openPipelineStore } from "../shared/store-connection.ts";
import { percentDone, totalRecords, type CheckpointState, type ShardCounts } from "./checkpoint-codec.ts";
import { ShardWaits } from "./shard-waits.ts";
import { CheckpointStore, checkpointKey } from "./checkpoint-store.ts";
import type { BootstrapConfig } from "./config.ts";
import { openJsonl, type OpenedFile } from "./jsonl-source.ts";
import { KafkaRangeReader } from "./kafka-range.ts";
import { ridingOutageAtStart, runShard, type OutageOptions, type ShardOutcome } from "./shard.ts";
import { TextVectors } from "./text-vectors.ts";

export interface BootstrapDependencies {
  logger: Logger;
  /** One call to the embedding server; errors it marks retryable are retried. */
  embedCall: EmbedCall;
  isRetryableEmbedError: (error: unknown) => boolean;
  registry?: Registry;
  /**
   * Where the embedding connection tells of calls refused for their token and retried inside
   * `embedCall` (connectEmbedding's watchTokenRefusals): each is counted in
   * jude_pipeline_embedding_errors_total{status="UNAUTHENTICATED"} and retries_total, and a lasting
   * run of them is written into the checkpoint as a wait on the embedding server.
   */
  watchTokenRefusals?: (listener: TokenRefusalListener) => void;
  /**
   * Abort = read no further, finish the batches in flight that need no waiting, checkpoint, end
   * `interrupted` (SIGTERM); see `runShard`.
   */
  signal?: AbortSignal;
}

/**
 * How long after SIGTERM the store may take to answer (the batches in flight, the `interrupted` save,
 * the QUIT) before the shard drops its connection. A store that accepts and never answers (a frozen
 * link, a stalled host) would otherwise hold each of those steps for a full command timeout in turn
 * (10 s, plus the durability wait when set), past the pod's 30 s grace period: SIGKILL, exit 137,
 * counted against the Job's backoffLimit, where the contract is exit 75 within seconds. A store that
 * answers takes milliseconds; a batch cut off here is written again by the rerun (idempotent).
 */
export const storeShutdownMs = 5_000;

/** Progress of a shard as printed in its progress lines (and readable from its checkpoint). */
export function progressOf(config: BootstrapConfig, state: CheckpointState): Record<string, unknown> {
  const source = config.source.kafka !== undefined ? "kafka" : "files";
  return {
    run: `${config.run.namespace}/${config.run.name}`,
    shard: config.shards.index,
    shards: config.shards.count,
    phase: state.phase,
    attempt: state.attempt,
    percent: percentDone(state),
    total: totalRecords(state, source) ?? null,
    ...state.counts,
  };
}

/** Runs the shard to its end; resolves with the outcome, rejects on an error it cannot ride out. */
export async function runBootstrap(
  config: BootstrapConfig,
  deps: BootstrapDependencies,
): Promise<ShardOutcome> {
  const registry = deps.registry ?? new Registry();
  const run = `${config.run.namespace}/${config.run.name}`;
  const labels = { pipeline: run, version: config.model.version };
  const logger = deps.logger.child({ run, shard: config.shards.index, version: config.model.version });
  const metrics = createPipelineMetrics(registry);
  const bootstrapMetrics = createBootstrapMetrics(registry);
  const shardLabels = { ...labels, shard: String(config.shards.index) };

  const onRetry = (dependency: string) => (error: unknown) => {
    metrics.retries.inc({ ...labels, dependency });
    logger.warn({ err: error }, `${dependency} unavailable; retrying`);
  };
  // The start-up steps ride out a store outage like the rest of the shard (each is idempotent), so an
  // outage as a shard starts spends no pod retry; SIGTERM meanwhile ends them (InterruptedBeforeStart).
  const storeOutage: OutageOptions = {
    isRetryable: isStoreOutage,
    onRetry: onRetry("store"),
    signal: deps.signal,
  };
  const storeMetrics = createStoreMetrics(registry);
  const { client, store } = await ridingOutageAtStart(
    "opening the store",
    () =>
      openPipelineStore(config.store, {
        connectionName: `jude-bootstrap-${config.run.name}-${config.shards.index}`,
        metrics: storeMetrics,
        // SIGTERM abandons the open (ridingOutageAtStart); its connection is dropped with it.
        signal: deps.signal,
      }),
    storeOutage,
    // Opened after the abort: nobody uses it.
    (opened) => void opened.client.quit().catch(() => undefined),
  );
  // SIGTERM: the store has storeShutdownMs to take the batches in flight and the `interrupted` save;
  // then the connection is dropped, also while the client waits to reconnect (dropConnection), which
  // fails whatever still waits on it at once (a store outage: the shard ends interrupted, its
  // checkpoint as last saved).
  const dropStore = (): void => dropConnection(client);
  let storeDeadline: NodeJS.Timeout | undefined;
  const onAbort = (): void => void (storeDeadline = setTimeout(dropStore, storeShutdownMs).unref());
  if (deps.signal?.aborted === true) onAbort();
  else deps.signal?.addEventListener("abort", onAbort, { once: true });
  let kafka: KafkaRangeReader | undefined;
  let ops: OpsServer | undefined;
  let latest: CheckpointState | undefined;
  const printProgress = (): void => {
    if (latest !== undefined) logger.info({ progress: progressOf(config, latest) }, "bootstrap progress");
  };
  const timer = setInterval(printProgress, config.checkpoint.progressIntervalMs);
  try {
    await ridingOutageAtStart(
      "checking the store's durability",
      () => checkDurabilitySupport(client, config.store.durability),
      storeOutage,
    );
    // The same durability as the version's nearline workers: each batch's writes are durable before the
    // checkpoint that covers them is saved, so a Redis host crash or failover can never leave a shard
    // (or a Succeeded run, which promotion then cuts over to) past vectors the store lost. Ordering
    // alone is not enough: in a Redis Cluster the checkpoint and the vectors live on different primaries.
    const writer = new StoreWriter(store, {
      dtype: config.store.dtype,
      durability: config.store.durability,
      // SIGTERM stops its retries as it stops the batch's: else a write failing at the abort (an
      // outage, or the connection dropped at storeShutdownMs) goes on for the writer's whole retry
      // deadline (60 s), past the pod's grace period. The batch is abandoned; the rerun writes it.
      ...(deps.signal ? { signal: deps.signal } : {}),
      onRetry: (attempt, error, pending) =>
        logger.warn({ attempt, err: error, pending }, "store unavailable; retrying writes"),
    });
    const checkpoints = new CheckpointStore(
      client,
      checkpointKey(store.layout.prefix, config.run, config.shards.index),
      config.checkpoint.retainSeconds,
    );
    // A batch that keeps waiting on the embedding server says so in the checkpoint, which the operator
    // reads into the BootstrapRun's status (the shards open no port).
    const waits = new ShardWaits();
    const vectors = createTextVectors(
      config,
      deps,
      store,
      { onEmbedded: (texts) => checkpoints.addPending("embedded", texts) },
      {
        metrics,
        labels,
        logger,
        onRetry: (error) =>
          void waits
            .retried("embedding", describeEmbeddingError(error))
            .catch((failure: unknown) =>
              logger.warn({ err: failure }, "could not note the wait in the checkpoint"),
            ),
      },
    );
    // Refused tokens are retried inside the call (a rotation reaches pods at different moments), below
    // the embedder's own counting: counted and reported here, or a wrong token stays invisible to
    // every alert until the shard gives up at the bound.
    deps.watchTokenRefusals?.(({ error }) => {
      metrics.embeddingErrors.inc({ ...labels, status: embeddingErrorStatus(error) });
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      void waits
        .retried(
          "embedding",
          `the embedding server refuses the bearer token (${describeEmbeddingError(error)}); reading it again and retrying`,
        )
        .catch((failure: unknown) =>
          logger.warn({ err: failure }, "could not note the wait in the checkpoint"),
        );
    });
    if (config.source.kafka !== undefined) {
      const clientOptions = kafkaClientOptions(
        config.source.kafka,
        `jude-bootstrap-${config.run.name}-${config.shards.index}`,
      );
      kafka = new KafkaRangeReader(clientOptions, config.source.kafka.topic, {
        ...(deps.signal ? { signal: deps.signal } : {}),
        onRetry: onRetry("kafka"),
      });
    }
    if (config.http.port !== undefined) {
      ops = await startOpsServer({
        port: config.http.port,
        registry,
        ready: () => true,
        status: () => (latest !== undefined ? progressOf(config, latest) : {}),
      });
    }
    const onCheckpoint = (state: CheckpointState, added: ShardCounts): void => {
      latest = state;
      metrics.consumed.inc(labels, added.processed);
      metrics.embedded.inc(labels, added.written);
      metrics.skippedStale.inc(labels, added.stale);
      metrics.deleted.inc(labels, added.deleted);
      bootstrapMetrics.deduplicated.inc(labels, added.deduplicated);
      bootstrapMetrics.failed.inc(labels, added.failed);
      bootstrapMetrics.percent.set(shardLabels, percentDone(state));
    };
    const outcome = await runShard(config, {
      store,
      writer,
      checkpoints,
      vectorsFor: (texts) => vectors.vectorsFor(texts),
      kafka,
      openFile: fileOpener(config, deps, onRetry("source")),
      logger,
      signal: deps.signal,
      // A batch is idempotent (own claims come back, writes are newer-wins), so it is retried whole.
      isRetryable: (error) => isStoreOutage(error) || deps.isRetryableEmbedError(error),
      // A server failure (INTERNAL, UNKNOWN) after the abort: the abort stopped its retries.
      isCancelled: (error) => isCancelledEmbeddingCall(error) || isEmbeddingServerFailure(error),
      onRetry: onRetry("store"),
      onCheckpoint,
      waits,
    });
    latest = outcome.state;
    bootstrapMetrics.percent.set(shardLabels, percentDone(outcome.state));
    return outcome;
  } finally {
    clearInterval(timer);
    printProgress();
    await kafka?.close();
    await ops?.close();
    // A QUIT to a store that hangs waits like any command: past the deadline the drop above ends it.
    await client.quit().catch(() => undefined);
    clearTimeout(storeDeadline);
    deps.signal?.removeEventListener("abort", onAbort);
  }
}

/** Vectors for the shard's texts: deduplicated through the store's text cache, embedded with retries. */
export function createTextVectors(
  config: BootstrapConfig,
  deps: BootstrapDependencies,
  store: Store,
  counting: { onEmbedded: (texts: number) => Promise<void> },
  reporting: Omit<EmbedderReporting, "onCall">,
): TextVectors {
  const embedder = createPipelineEmbedder(
    deps.embedCall,
    {
      // TextVectors already cuts requests to maxBatchSize and bounds them; this adds the retries.
      maxBatchSize: config.embedding.maxBatchSize,
      maxInflight: 1,
      isRetryable: deps.isRetryableEmbedError,
      // INTERNAL, UNKNOWN: tried a few times, then the policy below (as in nearline).
      isServerFailure: isEmbeddingServerFailure,
      // SIGTERM cancels the calls in flight and stops retrying an unavailable server, so the shard
      // checkpoints and exits within the pod's grace period instead of being SIGKILLed.
      ...(deps.signal ? { signal: deps.signal } : {}),
    },
    reporting,
  );
  return new TextVectors({
    store,
    version: config.model.version,
    modelDigest: config.model.digest,
    dtype: config.store.dtype,
    dedupe: config.dedupe,
    // Stable across restarts of the shard, so it can take its own claims back at once.
    owner: `${config.run.namespace}/${config.run.name}/${config.shards.index}`,
    leaseMs: config.textCache.leaseMs,
    pollMs: config.textCache.pollMs,
    localEntries: config.textCache.localEntries,
    maxBatchSize: config.embedding.maxBatchSize,
    maxInflight: config.embedding.maxInflight,
    embed: (texts) => embedder.embed(texts),
    // A text the server refuses (never retried) is isolated and its entities counted failed, as in
    // nearline; failing the batch would fail the shard on every rerun.
    isRefused: isRefusedEmbeddingInput,
    // A text the server fails alone (INTERNAL, UNKNOWN) while it answers a probe is counted failed
    // (EMBEDDING_FAILED) the same way; while it fails every call the batch waits, reported, its
    // checkpoint untouched, until the server answers or SIGTERM ends the wait.
    serverFailures: createServerFailurePolicy(deps.embedCall, reporting, {
      waiting: "the batch waits, not checkpointed, and is retried",
      signal: deps.signal,
    }),
    onEmbedded: counting.onEmbedded,
    // Ends waits for texts other shards have claimed (up to leaseMs) at SIGTERM.
    signal: deps.signal,
  });
}

/** Opens the shard's files (https:// with the extra CA, if any), retrying transient failures. */
function fileOpener(
  config: BootstrapConfig,
  deps: BootstrapDependencies,
  onRetry: (error: unknown) => void,
): (uri: string, position: number) => Promise<OpenedFile> {
  const caFile = config.source.files?.caFile;
  const ca = caFile !== undefined ? readFileSync(caFile) : undefined;
  return (uri, position) =>
    openJsonl(uri, position, {
      ...(ca !== undefined ? { ca } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
      onRetry,
    });
}
