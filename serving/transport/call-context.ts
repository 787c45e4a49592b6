import type { Logger } from "pino";
import type { Embedder } from "../core/embedder.ts";
import { servingErrors, type ServingError } from "../core/errors.ts";
import type { EmbedCall, EmbedResult } from "../core/types.ts";
import type { ServingMetrics } from "../metrics.ts";
import type { BearerTokenAuth } from "./auth.ts";
import { asServingError, codeLabel } from "./status-mapping.ts";
import { streamWindowSize } from "./stream-window.ts";

/** What every transport handler is wired to. */
export interface CallContext {
  embedder: Embedder;
  metrics: ServingMetrics;
  logger: Logger;
  /** Undefined when auth is off. */
  auth: BearerTokenAuth | undefined;
  /** Extra facts for Info responses. */
  info: { executionProvider: () => string; serverVersion: string };
}

/** How many inputs one stream may have in flight on this server (see `streamWindowSize`). */
export function contextWindowSize(context: CallContext): number {
  return streamWindowSize({
    maxInputsPerCall: context.embedder.limits.maxInputsPerCall,
    permits: context.embedder.permits.limit,
  });
}

/**
 * The image label TEI's Info reports as `docker_label`: the `DOCKER_LABEL` environment variable, which
 * an image sets at build time (as TEI's own images do); undefined when unset.
 */
export function dockerLabel(): string | undefined {
  return process.env.DOCKER_LABEL || undefined;
}

/** Runs an embed call and records its tokenization time. */
export async function runEmbed(context: CallContext, call: EmbedCall): Promise<EmbedResult> {
  const result = await context.embedder.embed(call);
  context.metrics.tokenizeDuration.observe(result.timings.tokenizationNs / 1e9);
  return result;
}

/**
 * The outcome of a call whose work succeeded: CANCELLED when its caller left while the work ran (a
 * deadline passed, the call or stream was cancelled, the connection closed), because the answer
 * reached no one and the caller saw a failure; otherwise undefined (OK).
 */
export function outcomeOfSuccess(signal: AbortSignal): ServingError | undefined {
  return signal.aborted ? servingErrors.cancelled() : undefined;
}

/**
 * Records the outcome of one call (metrics, and a log line for server-side failures only: client
 * mistakes and overload are visible in metrics and would flood the log).
 */
export function recordOutcome(
  context: CallContext,
  transport: "grpc" | "http",
  method: string,
  startedAt: number,
  error?: unknown,
): void {
  context.metrics.requests.inc({ transport, method, code: codeLabel(error) });
  context.metrics.requestDuration.observe({ transport, method }, (performance.now() - startedAt) / 1000);
  if (error === undefined) return;
  const servingError = asServingError(error);
  if (servingError.code === "OVERLOADED") context.metrics.overloaded.inc();
  if (servingError.kind === "internal") {
    context.logger.error({ err: servingError.cause ?? servingError, transport, method }, "call failed");
  } else {
    context.logger.debug({ code: servingError.publicCode, transport, method }, servingError.message);
  }
}
