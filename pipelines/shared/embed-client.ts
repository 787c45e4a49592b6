/** The pipelines' connection to the embedding server of their version, from the config's embedding section. */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  EmbeddingClient,
  EmbeddingClientError,
  isRetryableEmbeddingError,
} from "../embedding-client/client.ts";
import type { Logger } from "../../plumbing/logger.ts";
import { readSecret, type SecretSource } from "./config-common.ts";
import type { EmbedCall } from "./embedding.ts";
import { PipelineError, PipelineErrorCodes } from "./errors.ts";
import { DEFAULT_TOKEN_REFUSED_RETRY_SECONDS, TokenRefusals } from "./token-refusals.ts";

export interface EmbeddingSectionConfig {
  endpoint: string;
  tls?: { caFile?: string | undefined } | undefined;
  token?: SecretSource | undefined;
  /** How long refused calls are retried with the token read again (default 150 s; 0: not at all). */
  tokenRefusedRetrySeconds?: number | undefined;
  timeoutMs: number;
}

/** Per-connection choices of the caller. */
export interface EmbeddingCallOptions {
  /**
   * Refuse any answer from a model other than this digest (not retryable): vectors of another model
   * must never be stored under this version, e.g. when a Service routes to the wrong Deployment.
   */
  modelDigest?: string;
  /**
   * Cut inputs longer than the model's limit instead of failing the call; default true. A pipeline
   * embeds rendered entity texts whose length nobody checks upstream, and spec.model.maxSequenceLength
   * promises that longer texts are truncated: failing instead (INVALID_ARGUMENT, not retryable) would
   * stop the worker on the first long job description and restart it onto the same record forever.
   * Bootstrap and the parity check truncate too, so every writer embeds a text the same way.
   */
  truncate?: boolean;
  /**
   * Told of each refused call that will be retried (`since`: when the refusals began), e.g. to log a
   * warning; the token is read again before the retry.
   */
  onTokenRefused?: TokenRefusalListener;
}

/** A call refused for its token that will be retried (`since`: when the refusals began). */
export type TokenRefusalListener = (refusal: {
  error: EmbeddingClientError;
  since: Date;
  retryInMs: number;
}) => void;

/**
 * Opens a client; `call` is the pipelines' EmbedCall, `close` releases the channel. A call the server
 * refuses for its token (UNAUTHENTICATED) is retried, the token read again from its file or variable
 * before each try, until refusals have lasted `tokenRefusedRetrySeconds` (see token-refusals.ts): a
 * rotated Secret reaches this pod and the servers' pods at different moments. Read through the path
 * each time, so the kubelet's in-place update of a Secret volume (the `..data` link swapped to a new
 * directory) is seen; a variable never changes, but the server may still be the one behind.
 */
export function connectEmbedding(
  section: EmbeddingSectionConfig,
  options: EmbeddingCallOptions = {},
): {
  call: EmbedCall;
  isRetryable: (error: unknown) => boolean;
  /**
   * Adds a listener told of each refused call that will be retried, like `onTokenRefused`: the
   * pipeline apps count those calls and report their batch as waiting on the server (the retries
   * happen inside `call`, which fails only once refusals reach the bound).
   */
  watchTokenRefusals: (listener: TokenRefusalListener) => void;
  close: () => void;
} {
  const client = new EmbeddingClient({
    address: section.endpoint,
    deadlineMs: section.timeoutMs,
    ...(section.tls !== undefined
      ? { tls: section.tls.caFile !== undefined ? { ca: readFileSync(section.tls.caFile) } : true }
      : {}),
    ...(section.token !== undefined ? { token: readSecret(section.token, "embedding server token") } : {}),
  });
  const { modelDigest, truncate = true, onTokenRefused } = options;
  const tokenSource = section.token;
  const listeners: TokenRefusalListener[] = onTokenRefused !== undefined ? [onTokenRefused] : [];
  const refusals = new TokenRefusals(
    (section.tokenRefusedRetrySeconds ?? DEFAULT_TOKEN_REFUSED_RETRY_SECONDS) * 1000,
  );
  const embedWithToken = async (texts: string[], signal: AbortSignal | undefined) => {
    for (;;) {
      try {
        const answer = await client.embed(texts, { truncate, ...(signal ? { signal } : {}) });
        refusals.accepted();
        return answer;
      } catch (error) {
        if (
          tokenSource === undefined ||
          !(error instanceof EmbeddingClientError) ||
          error.code !== GrpcStatus.UNAUTHENTICATED ||
          signal?.aborted === true
        )
          throw error;
        const retryInMs = refusals.refused(Date.now());
        if (retryInMs === undefined) throw error;
        const refusal = { error, since: new Date(refusals.refusedSince!), retryInMs };
        for (const listener of listeners) listener(refusal);
        await sleep(retryInMs, undefined, signal ? { signal } : {});
        try {
          client.setToken(readSecret(tokenSource, "embedding server token"));
        } catch {
          // Mid-update or briefly unreadable: the next try sends the token read last.
        }
      }
    }
  };
  const call: EmbedCall = async (texts, signal) => {
    const answer = await embedWithToken(texts, signal);
    if (modelDigest !== undefined && answer.model.digest !== modelDigest) {
      throw new PipelineError(
        PipelineErrorCodes.MODEL_MISMATCH,
        `embedding server ${section.endpoint} serves model ${answer.model.digest}, expected ${modelDigest}`,
      );
    }
    return answer.vectors;
  };
  return {
    call,
    isRetryable: isRetryableEmbeddingError,
    watchTokenRefusals: (listener) => void listeners.push(listener),
    close: () => client.close(),
  };
}

/**
 * An `onTokenRefused` that warns once per run of refusals (concurrent calls share one): the token is
 * being read again, and until when the worker keeps trying before it fails.
 */
export function warnOfTokenRefusals(
  logger: Logger,
  boundSeconds: number = DEFAULT_TOKEN_REFUSED_RETRY_SECONDS,
): TokenRefusalListener {
  let warned: number | undefined;
  return ({ error, since }) => {
    if (warned === since.getTime()) return;
    warned = since.getTime();
    logger.warn(
      {
        err: error,
        refusedSince: since.toISOString(),
        givesUpAt: new Date(warned + boundSeconds * 1000).toISOString(),
      },
      "the embedding server refuses the bearer token (rotated?): reading it again and retrying",
    );
  };
}
