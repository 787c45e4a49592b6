/**
 * What a nearline worker does with each answer of the embedding server (README, "Nearline worker",
 * embedding errors):
 *   - UNAVAILABLE, RESOURCE_EXHAUSTED with JUDE_SERVING_OVERLOADED: the server is away or busy; the
 *     call is retried in-process with jittered exponential back-off (50 ms doubling to 5 s) for as long
 *     as that lasts, until a drain runs out of time; never blamed on a text;
 *   - INVALID_ARGUMENT, any other RESOURCE_EXHAUSTED: the server refuses the input itself; never
 *     retried, the call is halved until the refused texts stand alone, their events dead-lettered
 *     (EMBEDDING_REFUSED);
 *   - INTERNAL, UNKNOWN, DEADLINE_EXCEEDED: the server failed, or did not answer in time (slow, or a
 *     text hangs it); the call is tried SERVER_FAILURE_ATTEMPTS times, then a probe (one harmless
 *     text) asks whether the server answers anything within the deadline. If it does, the call is
 *     halved like a refused one and a text that alone fails again, while a second probe is answered,
 *     is dead-lettered (EMBEDDING_FAILED, with the status and the server's message): a poison record
 *     costs its own event, not the partition. If a probe fails too, the server fails (or is too slow
 *     for) every call: nothing is dead-lettered, the
 *     batch stays in hand and uncommitted, retried with back-off and reported (`waitingOn` embedding on
 *     /readyz, jude_pipeline_dependency_wait_seconds, jude_pipeline_retries_total, a warning);
 *   - UNAUTHENTICATED: retried inside the connection with the token read again, while refusals last
 *     less than embedding.tokenRefusedRetrySeconds (a rotation: pipelines/shared/token-refusals.ts),
 *     each refused try counted and the batch reported waiting on embedding (app.ts,
 *     watchTokenRefusals); past that, as below;
 *   - anything else (NOT_FOUND, UNIMPLEMENTED, a model digest mismatch, ...): a configuration error
 *     no retry cures; the worker fails (exit 1, the code on /readyz).
 * Every failed call of a batch is counted in jude_pipeline_embedding_errors_total{status}; the probes
 * are not (nor, answered, in jude_pipeline_inference_calls_total).
 */
import { isEmbeddingServerFailure, isRefusedEmbeddingInput } from "../embedding-client/errors.ts";
import {
  createPipelineEmbedder,
  createServerFailurePolicy,
  type BatchedEmbedder,
  type BatchedEmbedderOptions,
  type EmbedCall,
  type EmbedderReporting,
  type ServerFailurePolicy,
} from "../shared/embedding.ts";

export { PROBE_TEXT } from "../shared/embedding.ts";

/** The embedder of a nearline worker and how its batches treat refusals and server failures. */
export interface NearlineEmbedding {
  embedder: BatchedEmbedder;
  isRefusedInput: (error: unknown) => boolean;
  serverFailures: ServerFailurePolicy;
}

/** Builds it from the worker's one-call `call` (also used, once per check, for the probe). */
export function createNearlineEmbedding(
  call: EmbedCall,
  options: Pick<BatchedEmbedderOptions, "maxBatchSize" | "maxInflight" | "isRetryable" | "signal">,
  reporting: EmbedderReporting,
): NearlineEmbedding {
  const embedder = createPipelineEmbedder(
    call,
    { ...options, isServerFailure: isEmbeddingServerFailure },
    reporting,
  );
  return {
    embedder,
    isRefusedInput: isRefusedEmbeddingInput,
    serverFailures: createServerFailurePolicy(call, reporting, {
      waiting: "the batch stays uncommitted and is retried",
      signal: options.signal,
    }),
  };
}
