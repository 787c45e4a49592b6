/**
 * `jude_pipeline_*` metrics shared by nearline workers and bootstrap shards. Library code takes the
 * registry as an argument so tests and embedding processes never collide on the global one.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface PipelineMetrics {
  consumed: Counter<"pipeline" | "version">;
  embedded: Counter<"pipeline" | "version">;
  skippedUnchanged: Counter<"pipeline" | "version">;
  skippedStale: Counter<"pipeline" | "version">;
  deleted: Counter<"pipeline" | "version">;
  deadLettered: Counter<"pipeline" | "version" | "code">;
  inferenceCalls: Counter<"pipeline" | "version">;
  inferenceTexts: Counter<"pipeline" | "version">;
  consumerLag: Gauge<"pipeline" | "version" | "partition">;
  sourceRecordsLost: Counter<"pipeline" | "version" | "partition">;
  freshness: Histogram<"pipeline" | "version">;
  phaseSeconds: Histogram<"pipeline" | "version" | "phase">;
  retries: Counter<"pipeline" | "version" | "dependency">;
  embeddingErrors: Counter<"pipeline" | "version" | "status">;
}

/** Registers the pipeline metrics on `registry`. */
export function createPipelineMetrics(registry: Registry): PipelineMetrics {
  const labelNames = ["pipeline", "version"] as const;
  const registers = [registry];
  return {
    consumed: new Counter({
      name: "jude_pipeline_consumed_total",
      help: "Source events read.",
      labelNames,
      registers,
    }),
    embedded: new Counter({
      name: "jude_pipeline_embedded_total",
      help: "Events whose text was embedded and written.",
      labelNames,
      registers,
    }),
    skippedUnchanged: new Counter({
      name: "jude_pipeline_skipped_unchanged_total",
      help: "Upserts skipped because the content hash equals the stored one (change detection).",
      labelNames,
      registers,
    }),
    skippedStale: new Counter({
      name: "jude_pipeline_skipped_stale_total",
      help: "Events skipped or not applied because the store already holds a newer event for the key.",
      labelNames,
      registers,
    }),
    deleted: new Counter({
      name: "jude_pipeline_deleted_total",
      help: "Deletes (tombstones) written.",
      labelNames,
      registers,
    }),
    deadLettered: new Counter({
      name: "jude_pipeline_dead_lettered_total",
      help: "Events sent to the dead-letter topic, by reason code.",
      labelNames: [...labelNames, "code"],
      registers,
    }),
    inferenceCalls: new Counter({
      name: "jude_pipeline_inference_calls_total",
      help: "Embedding calls made.",
      labelNames,
      registers,
    }),
    inferenceTexts: new Counter({
      name: "jude_pipeline_inference_texts_total",
      help: "Texts sent for embedding.",
      labelNames,
      registers,
    }),
    consumerLag: new Gauge({
      name: "jude_pipeline_consumer_lag",
      help: "Records between the committed offset and the end of each source partition.",
      labelNames: [...labelNames, "partition"],
      registers,
    }),
    sourceRecordsLost: new Counter({
      name: "jude_pipeline_source_records_lost_total",
      help: "Source offsets deleted (retention, delete-records) before the worker read them; it resumed at the log's start.",
      labelNames: [...labelNames, "partition"],
      registers,
    }),
    freshness: new Histogram({
      name: "jude_pipeline_freshness_seconds",
      help: "Time from a change's event time until its vector is visible in the store.",
      labelNames,
      // Up to an hour: JudeNearlineFreshnessHigh compares the p95 with a threshold the chart accepts up
      // to 3600 s, and a quantile never reads above the largest finite bucket.
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 600, 1800, 3600],
      registers,
    }),
    phaseSeconds: new Histogram({
      name: "jude_pipeline_phase_seconds",
      help: "Time per batch spent in each phase (detect, inference, store, produce, commit).",
      labelNames: [...labelNames, "phase"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    retries: new Counter({
      name: "jude_pipeline_retries_total",
      help: "Retries after a dependency was unavailable.",
      labelNames: [...labelNames, "dependency"],
      registers,
    }),
    embeddingErrors: new Counter({
      name: "jude_pipeline_embedding_errors_total",
      help: "Embedding calls that failed, by gRPC status (UNAVAILABLE, INTERNAL, INVALID_ARGUMENT, ...; a pipeline error by its code); calls the worker cancelled itself are not counted.",
      labelNames: [...labelNames, "status"],
      registers,
    }),
  };
}

/**
 * Registers Node's process metrics (RSS, heap, event-loop lag, GC) on a worker's `registry` with the
 * `jude_pipeline_` prefix (jude_pipeline_process_resident_memory_bytes, ...), as the server and the
 * operator export them under theirs. Once per registry.
 */
export function collectPipelineProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: "jude_pipeline_" });
}

/** Metrics only a bootstrap shard has; the shared ones above cover reading, inference and writes. */
export interface BootstrapMetrics {
  percent: Gauge<"pipeline" | "version" | "shard">;
  deduplicated: Counter<"pipeline" | "version">;
  failed: Counter<"pipeline" | "version">;
}

/** Registers the bootstrap metrics on `registry` (beside `createPipelineMetrics`). */
export function createBootstrapMetrics(registry: Registry): BootstrapMetrics {
  const labelNames = ["pipeline", "version"] as const;
  const registers = [registry];
  return {
    percent: new Gauge({
      name: "jude_pipeline_bootstrap_percent",
      help: "Part of the shard's source range completely written, in percent (100 when done).",
      labelNames: [...labelNames, "shard"],
      registers,
    }),
    deduplicated: new Counter({
      name: "jude_pipeline_bootstrap_deduplicated_total",
      help: "Entities that reused the vector of an identical text instead of their own inference.",
      labelNames,
      registers,
    }),
    failed: new Counter({
      name: "jude_pipeline_bootstrap_failed_total",
      help: "Snapshot records that could not be decoded or had none of the extracted fields.",
      labelNames,
      registers,
    }),
  };
}

/** Runs `work` and observes its duration in the phase histogram, also when it fails. */
export async function timePhase<T>(
  metrics: PipelineMetrics,
  labels: { pipeline: string; version: string; phase: string },
  work: () => Promise<T>,
): Promise<T> {
  const stop = metrics.phaseSeconds.startTimer(labels);
  try {
    return await work();
  } finally {
    stop();
  }
}
