/** The embedding server's Prometheus metrics (jude_serving_*), split by phase. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { InferenceWorkerCounts } from "./core/backend.ts";
import type { BatcherObserver } from "./core/batcher.ts";

const TOKENS_PER_SECOND_WINDOW_S = 10;

/** The server's Prometheus metrics, all prefixed `jude_serving_`, split by phase. */
export interface ServingMetrics {
  registry: Registry;
  requests: Counter<"transport" | "method" | "code">;
  overloaded: Counter;
  requestDuration: Histogram<"transport" | "method">;
  tokenizeDuration: Histogram;
  inFlightInputs: Gauge;
  /** Bytes of refused HTTP request bodies read and dropped before the refusal (see dropUnreadBody). */
  refusedBodyDroppedBytes: Counter;
  /** Drops of refused bodies cut short, or never begun, for the shared drop budget (see DropBudget). */
  refusedBodyDropsCut: Counter<"reason">;
  batcherObserver: BatcherObserver;
}

/**
 * Creates the metrics on a registry of their own (several servers can live in one test process).
 * `inFlight` reads the permits in use (inputs) and `inFlightCalls` the calls being served, both at
 * scrape time, so the gauges can never drift from the truth; so does `inferenceWorkers` (absent:
 * none, for tests without a backend).
 */
export function createServingMetrics(options: {
  inFlight: () => number;
  inFlightCalls: () => number;
  inferenceWorkers?: () => InferenceWorkerCounts;
}): ServingMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "jude_serving_" });
  const requests = new Counter({
    name: "jude_serving_requests_total",
    help: "Calls answered, by transport, method and status code (gRPC code names; HTTP maps to them).",
    labelNames: ["transport", "method", "code"] as const,
    registers: [registry],
  });
  // RESOURCE_EXHAUSTED in requests_total also counts HTTP bodies over the size limit (a caller's
  // mistake that more replicas do not cure); the chart's JudeServingOverloaded reads this instead.
  const overloaded = new Counter({
    name: "jude_serving_overloaded_total",
    help: "Calls refused because the server was full (OVERLOADED: in-flight inputs or request bodies at their limit).",
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: "jude_serving_request_duration_seconds",
    help: "Time from receiving a call to answering it.",
    labelNames: ["transport", "method"] as const,
    // Fine around the 300 ms p95 per call that DESIGN.md targets: a quantile is interpolated within a
    // bucket, so with 0.25 and 0.5 next to each other a p95 of 0.26 s read as 0.375 s.
    buckets: [
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10,
    ],
    registers: [registry],
  });
  const tokenizeDuration = new Histogram({
    name: "jude_serving_tokenize_duration_seconds",
    help: "Prompt rendering and tokenization time per call.",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  const queueDuration = new Histogram({
    name: "jude_serving_queue_duration_seconds",
    help: "Time an input waited in the queue before its batch started.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const inferenceDuration = new Histogram({
    name: "jude_serving_inference_duration_seconds",
    help: "Time one batch spent in the backend.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "jude_serving_batch_size",
    help: "Inputs per batch.",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const batchTokens = new Histogram({
    name: "jude_serving_batch_tokens",
    help: "Real (unpadded) tokens per batch.",
    buckets: [16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768],
    registers: [registry],
  });
  const batchPaddedTokens = new Histogram({
    name: "jude_serving_batch_padded_tokens",
    help: "Tokens per batch padded to its longest input (a CPU backend runs mixed lengths as sub-batches that pad less).",
    buckets: [16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768],
    registers: [registry],
  });
  const tokens = new Counter({
    name: "jude_serving_tokens_total",
    help: "Tokens embedded.",
    registers: [registry],
  });
  const dropped = new Counter({
    name: "jude_serving_dropped_total",
    help: "Queued inputs dropped before inference because their call was cancelled.",
    registers: [registry],
  });
  const queueSize = new Gauge({
    name: "jude_serving_queue_size",
    help: "Inputs waiting.",
    registers: [registry],
  });
  const queueTokens = new Gauge({
    name: "jude_serving_queue_tokens",
    help: "Tokens waiting: the signal to autoscale on.",
    registers: [registry],
  });
  const inFlightInputs = new Gauge({
    name: "jude_serving_in_flight",
    help: "Inputs admitted and not yet answered (permits in use).",
    registers: [registry],
    collect() {
      this.set(options.inFlight());
    },
  });
  // The pods metric an EmbeddingModel's HPA targets with spec.serving.autoscaling.targetInflightRequests
  // (controllers/embedding-model/autoscaler.ts): calls, not inputs, so a 32-text call counts once.
  new Gauge({
    name: "jude_serving_inflight_requests",
    help: "Embedding calls admitted and not yet answered (the autoscaling signal targetInflightRequests).",
    registers: [registry],
    collect() {
      this.set(options.inFlightCalls());
    },
  });
  // A dead worker fails liveness (the pod is restarted) while the others serve on; this shows how many
  // of a pod's workers are left meanwhile ("2 of 4"), which health alone cannot say.
  new Gauge({
    name: "jude_serving_inference_workers",
    help: "Inference workers (ONNX Runtime sessions) by state: live (running batches) or dead (died; the pod fails liveness).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const workers = options.inferenceWorkers?.() ?? { live: 0, dead: 0 };
      this.set({ state: "live" }, workers.live);
      this.set({ state: "dead" }, workers.dead);
    },
  });
  const refusedBodyDroppedBytes = new Counter({
    name: "jude_serving_http_refused_body_dropped_bytes_total",
    help: "Bytes of refused HTTP request bodies read and dropped so that the client reads the refusal.",
    registers: [registry],
  });
  const refusedBodyDropsCut = new Counter({
    name: "jude_serving_http_refused_body_drops_cut_total",
    help: "Refusals whose body was left unread (connection closed at once) for the shared drop budget: too many drops at once (concurrent) or too many bytes (bytes).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const recent: Array<{ at: number; tokens: number }> = [];
  new Gauge({
    name: "jude_serving_tokens_per_second",
    help: `Tokens embedded per second over the last ${TOKENS_PER_SECOND_WINDOW_S} s.`,
    registers: [registry],
    collect() {
      const since = performance.now() - TOKENS_PER_SECOND_WINDOW_S * 1000;
      while (recent.length > 0 && (recent[0]?.at ?? 0) < since) recent.shift();
      this.set(recent.reduce((sum, entry) => sum + entry.tokens, 0) / TOKENS_PER_SECOND_WINDOW_S);
    },
  });

  const batcherObserver: BatcherObserver = {
    batchStarted(batch) {
      batchSize.observe(batch.size);
      batchTokens.observe(batch.tokens);
      batchPaddedTokens.observe(batch.paddedTokens);
      for (const ms of batch.queueMs) queueDuration.observe(ms / 1000);
    },
    batchFinished(batch) {
      inferenceDuration.observe(batch.inferenceMs / 1000);
      if (batch.failed) return;
      tokens.inc(batch.tokens);
      recent.push({ at: performance.now(), tokens: batch.tokens });
      // Bounded even if nobody scrapes.
      if (recent.length > 100_000) recent.splice(0, recent.length - 100_000);
    },
    dropped(count) {
      dropped.inc(count);
    },
    queueChanged(queue) {
      queueSize.set(queue.size);
      queueTokens.set(queue.tokens);
    },
  };
  return {
    registry,
    requests,
    overloaded,
    requestDuration,
    tokenizeDuration,
    inFlightInputs,
    refusedBodyDroppedBytes,
    refusedBodyDropsCut,
    batcherObserver,
  };
}
