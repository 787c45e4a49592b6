/** Wires one embedding server: model, tokenizer, batcher, embedder, gRPC and HTTP listeners, drain. */
import { readFile } from "node:fs/promises";
import { createRootLogger, type Logger } from "../plumbing/logger.ts";
import { Permits } from "../plumbing/permits.ts";
import { usableCores } from "./backend/cpu-quota.ts";
import { BackendPool } from "./backend/backend-pool.ts";
import { cpuBatchTokens, planInference } from "./backend/inference-plan.ts";
import { OnnxBackend, type OnnxBackendOptions } from "./backend/onnx-backend.ts";
import { DeferredBackend } from "./core/backend.ts";
import { Batcher } from "./core/batcher.ts";
import { Embedder } from "./core/embedder.ts";
import type { BatchLimits } from "./core/queue.ts";
import type { ModelIdentity } from "./core/types.ts";
import { MAX_TIMER_MS } from "../plumbing/timers.ts";
import type { ServingConfig } from "./config.ts";
import { createServingMetrics, type ServingMetrics } from "./metrics.ts";
import { readModelManifest, resolveModel } from "./model-manifest.ts";
import { loadTokenizer } from "./tokenizer/tokenizer.ts";
import { BearerTokenAuth } from "./transport/auth.ts";
import type { CallContext } from "./transport/call-context.ts";
import { GRPC_SERVICE_NAMES, startGrpcServer } from "./transport/grpc-server.ts";
import { HealthState } from "./transport/health-service.ts";
import { startHttpServer } from "./transport/http-server.ts";
import { SERVER_VERSION } from "./version.ts";

/** A running embedding server. */
export interface EmbeddingServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly model: ModelIdentity;
  readonly embedder: Embedder;
  readonly health: HealthState;
  readonly metrics: ServingMetrics;
  /** Resolves once the model is loaded, warmed up and health is SERVING; rejects if loading fails. */
  readonly ready: Promise<void>;
  /**
   * Graceful shutdown: health NOT_SERVING, new calls refused with UNAVAILABLE, calls in flight
   * answered (for up to `timeoutMs`), listeners and model closed. Resolves true when every call in
   * flight completed, false when the timeout cut some off: HTTP requests then left are answered 503
   * DRAINING, gRPC calls are cancelled a second later.
   */
  drain(timeoutMs?: number): Promise<boolean>;
  /** Closes at once; calls in flight are cancelled (HTTP requests answered 503 DRAINING). */
  close(): Promise<void>;
}

/**
 * Starts the embedding server: listeners first (health NOT_SERVING), then the model in the
 * background, then SERVING. Throws at once for problems found before listening (manifest, tokenizer,
 * config, TLS and token files).
 */
export async function startEmbeddingServer(
  config: ServingConfig,
  options: { logger?: Logger } = {},
): Promise<EmbeddingServer> {
  const baseLogger = options.logger ?? createRootLogger({ component: "serving", level: config.logLevel });
  const manifest = await readModelManifest(config.modelDir);
  const resolved = await resolveModel(config.modelDir, manifest, config.model);
  const model = resolved.identity;
  // The root logger carries `component: "serving"` (plumbing/logger.ts); this adds the model.
  const logger = baseLogger.child({ model: model.name, version: model.version });
  if (config.batching.maxBatchTokens < model.maxSequenceLength) {
    throw new Error(
      `batching.maxBatchTokens (${config.batching.maxBatchTokens}) must be at least the model's maxSequenceLength (${model.maxSequenceLength})`,
    );
  }
  const tokenizer = await loadTokenizer(resolved.tokenizerPath);
  const tls = config.tls
    ? { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) }
    : undefined;
  const auth = config.auth ? await BearerTokenAuth.fromFile(config.auth.tokenFile) : undefined;

  const permits = new Permits(config.batching.maxConcurrentRequests);
  // The embedder is built below (it needs the batcher, which reports to these metrics); the gauge
  // reads it only at scrape time, once the listeners are up.
  const metrics = createServingMetrics({
    inFlight: () => permits.inUse,
    inFlightCalls: () => embedder.inFlight,
    inferenceWorkers: () => backend.inferenceWorkers,
  });
  const backend = new DeferredBackend(model.dimensions);
  // One limits object, shared by the batcher's queue and Info, so the CPU cap set at load applies to both.
  const batching = {
    maxBatchTokens: config.batching.maxBatchTokens,
    maxBatchSize: config.batching.maxBatchSize,
  };
  const batcher = new Batcher({
    backend,
    limits: batching,
    maxQueueDelayMs: config.batching.maxQueueDelayMs,
    observer: metrics.batcherObserver,
  });
  const embedder = new Embedder({
    model,
    tokenizer,
    batcher,
    permits,
    batching,
    limits: { maxInputsPerCall: config.limits.maxInputsPerCall },
    prompts: config.prompts,
  });
  const health = new HealthState(GRPC_SERVICE_NAMES);
  const context: CallContext = {
    embedder,
    metrics,
    logger,
    auth,
    info: { executionProvider: () => backend.executionProvider, serverVersion: SERVER_VERSION },
  };
  const listen = {
    host: config.listen.host,
    tls,
    maxMessageBytes: config.limits.maxMessageBytes,
    context,
    health,
  };
  const grpc = await startGrpcServer({
    ...listen,
    port: config.listen.grpcPort,
    idleConnectionMs: config.limits.grpcIdleConnectionMs,
    maxConnectionAgeMs: config.limits.maxConnectionAgeMs,
  });
  const http = await startHttpServer({
    ...listen,
    port: config.listen.httpPort,
    requestTimeoutMs: config.limits.httpRequestTimeoutMs,
    maxConnectionAgeMs: config.limits.maxConnectionAgeMs,
    metrics,
  }).catch(async (error: unknown) => {
    // The HTTP port is taken (say): the gRPC listener bound above would keep the process up,
    // serving nothing, instead of exiting (start-failure.test.ts).
    await grpc.shutdown(0);
    throw error;
  });
  logger.info(
    { grpcPort: grpc.port, httpPort: http.port, tls: tls !== undefined, auth: auth !== undefined },
    "listening; loading the model",
  );

  const ready = loadModel(config, resolved.modelPath, {
    model,
    backend,
    embedder,
    health,
    logger,
    batching,
  });
  ready.catch((error: unknown) => logger.error({ err: error }, "the model failed to load"));

  const shutdown = createShutdown({ embedder, health, grpc, http, ready, backend, auth, logger });

  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    model,
    embedder,
    health,
    metrics,
    ready,
    drain: (timeoutMs = config.drainTimeoutMs) => shutdown(timeoutMs, true),
    close: async () => {
      await shutdown(0, false);
    },
  };
}

/** What loading the model switches on once it is ready. */
interface LoadTargets {
  readonly model: ModelIdentity;
  readonly backend: DeferredBackend;
  readonly embedder: Embedder;
  readonly health: HealthState;
  readonly logger: Logger;
  /** The batch limits in force; the CPU token cap is applied here once the provider is known. */
  readonly batching: BatchLimits;
}

/**
 * Loads and warms up the model in its inference workers, then marks the embedder ready and health
 * SERVING. The first worker settles the execution provider (`auto` may fall back to the CPU); the
 * others, if the plan wants more than one, start after it with the same provider.
 */
async function loadModel(config: ServingConfig, modelPath: string, targets: LoadTargets): Promise<void> {
  const { model, backend, embedder, health, logger, batching } = targets;
  const started = performance.now();
  const plan = (executionProvider: "cpu" | "cuda") =>
    planInference({
      executionProvider,
      inferenceWorkers: config.backend.inferenceWorkers,
      intraOpThreads: config.backend.intraOpThreads,
      cores: usableCores(),
    });
  const cpuPlan = plan("cpu");
  const worker = (settings: Pick<OnnxBackendOptions, "executionProvider" | "intraOpThreads">) =>
    OnnxBackend.start({
      ...settings,
      modelPath,
      interOpThreads: config.backend.interOpThreads,
      allowSpinning: config.backend.allowSpinning,
      cudaDeviceId: config.backend.cudaDeviceId,
      pooling: model.pooling,
      expectedDimensions: model.dimensions,
      // Run the shortest and the longest input once, so the first real call pays no warm-up and a
      // maxSequenceLength the model cannot take fails here rather than on a user's call.
      warmupShapes: [
        [1, 8],
        [1, model.maxSequenceLength],
      ],
      onWarning: (message) => logger.warn(message),
      onFailure: (error) => {
        logger.error(
          { err: error },
          "an inference worker failed; reporting NOT_SERVING and failing liveness",
        );
        health.markBroken("an inference worker failed");
      },
    });
  const first = await worker({
    executionProvider: config.backend.executionProvider,
    // Sized for the CPU: on a GPU the intra-op threads only run the few operators left on the CPU.
    intraOpThreads: cpuPlan.intraOpThreads,
  });
  const resolved = plan(first.executionProvider === "cuda" ? "cuda" : "cpu");
  const members: OnnxBackend[] = [first];
  try {
    const rest = Array.from({ length: resolved.workers - 1 }, () =>
      worker({
        executionProvider: first.executionProvider as "cpu" | "cuda",
        intraOpThreads: resolved.intraOpThreads,
      }),
    );
    members.push(...(await Promise.all(rest)));
  } catch (error) {
    await Promise.allSettled(members.map((member) => member.close()));
    throw error;
  }
  const loaded = members.length === 1 ? first : new BackendPool(members);
  if (loaded.executionProvider === "cpu") {
    const { maxBatchTokens } = batching;
    batching.maxBatchTokens = cpuBatchTokens(
      maxBatchTokens,
      config.backend.cpuMaxBatchTokens,
      model.maxSequenceLength,
    );
  }
  backend.set(loaded);
  if (embedder.state !== "loading") return; // drained or closed while loading
  embedder.markReady();
  health.setAll("SERVING");
  logger.info(
    {
      executionProvider: loaded.executionProvider,
      precision: model.precision,
      inferenceWorkers: members.length,
      intraOpThreads: resolved.intraOpThreads,
      maxBatchTokens: batching.maxBatchTokens,
      loadMs: Math.round(performance.now() - started),
    },
    "model loaded and warmed up; serving",
  );
}

/** How long gRPC calls still running when the drain ends get before they are cancelled. */
const GRPC_SHUTDOWN_GRACE_MS = 1_000;

/** What a shutdown stops, in order. */
interface ShutdownParts {
  readonly embedder: Embedder;
  readonly health: HealthState;
  readonly grpc: { goAway(graceMs: number): void; shutdown(graceMs: number): Promise<unknown> };
  readonly http: { close(): Promise<unknown> };
  readonly ready: Promise<void>;
  readonly backend: DeferredBackend;
  readonly auth: BearerTokenAuth | undefined;
  readonly logger: Logger;
}

/**
 * The server's one shutdown: health NOT_SERVING, then (graceful) calls in flight answered for up to
 * `timeoutMs`, then listeners, model and token watch closed. Later calls share the first one's result;
 * a non-graceful one during a graceful drain (a second signal: "now") cuts the drain short.
 */
function createShutdown(parts: ShutdownParts): (timeoutMs: number, graceful: boolean) => Promise<boolean> {
  const { embedder, health, grpc, http, ready, backend, auth, logger } = parts;
  let closing: Promise<boolean> | undefined;
  // Resolves when a non-graceful shutdown is asked for while the graceful drain runs.
  const cutShort = Promise.withResolvers<false>();
  let now = false;
  return (timeoutMs, graceful) => {
    if (!graceful && !now) {
      now = true;
      cutShort.resolve(false);
    }
    return (closing ??= (async () => {
      health.setAll("NOT_SERVING");
      let completed = true;
      if (graceful) {
        // GOAWAY: a client's next calls go on a new connection, through the Service to a replica that
        // serves, instead of being refused here for the whole drain (a Service balances connections).
        grpc.goAway(Math.min(timeoutMs + GRPC_SHUTDOWN_GRACE_MS, MAX_TIMER_MS));
        logger.info({ inFlight: embedder.inFlight, timeoutMs }, "draining");
        const drained = embedder.drain().then(() => true);
        const timedOut = new Promise<boolean>((resolve) =>
          setTimeout(() => resolve(false), Math.min(timeoutMs, MAX_TIMER_MS)).unref(),
        );
        completed = await Promise.race([drained, timedOut, cutShort.promise]);
        if (!completed && now)
          logger.warn({ inFlight: embedder.inFlight }, "drain cut short; cancelling what is left");
        else if (!completed)
          logger.warn({ inFlight: embedder.inFlight }, "drain timed out; cancelling what is left");
      } else {
        void embedder.drain();
      }
      health.closeWatches();
      // Each step below is bounded; should one still hang, the log says which.
      let step = "closing the listeners";
      const slow = setInterval(() => logger.warn({ step }, "shutdown is taking long"), 5_000).unref();
      try {
        const listeners = new Set(["gRPC", "HTTP"]);
        const closed = (name: string) => () => {
          listeners.delete(name);
          step = `closing the ${[...listeners].join(" and ")} listener`;
        };
        await Promise.all([
          grpc.shutdown(graceful && !now ? GRPC_SHUTDOWN_GRACE_MS : 0).then(closed("gRPC")),
          http.close().then(closed("HTTP")),
        ]);
        step = "waiting for the model load";
        await ready.catch(() => {});
        step = "closing the inference workers";
        await backend.close();
        auth?.close();
      } finally {
        clearInterval(slow);
      }
      logger.info({ completed }, "stopped");
      return completed;
    })());
  };
}
