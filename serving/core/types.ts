/** What a caller asks to embed: a text, optionally shaped by a named prompt of the model. */
export interface EmbedInput {
  text: string;
  /** A prompt (entity) name from the model's serving config, like text-embeddings-inference's prompt_name. */
  promptName?: string | undefined;
  /** Values for `{{field}}` placeholders of the prompt; `text` is always available as `{{text}}`. */
  fields?: Readonly<Record<string, string>> | undefined;
}

/** One Embed call, transport-neutral. */
export interface EmbedCall {
  inputs: readonly EmbedInput[];
  /** Cut inputs longer than the model's limit instead of failing with INPUT_TOO_LONG. */
  truncate: boolean;
  truncationDirection?: "right" | "left" | undefined;
  /** L2-normalise the vectors; defaults to the model's configuration. */
  normalize?: boolean | undefined;
  /** Keep only the first n dimensions (Matryoshka models); normalisation applies after the cut. */
  dimensions?: number | undefined;
  /** Aborts when the caller goes away; queued inputs are then dropped before inference. */
  signal?: AbortSignal | undefined;
}

/** The model a vector came from; callers store it beside the vector. */
export interface ModelIdentity {
  name: string;
  version: string;
  /** sha256 of the model artifact, "sha256:<hex>". */
  digest: string;
  precision: "fp32" | "fp16" | "int8";
  dimensions: number;
  maxSequenceLength: number;
  pooling: "mean" | "cls" | "last-token";
  normalize: boolean;
}

/** Where the time of a call went, in nanoseconds (as text-embeddings-inference reports it). */
export interface EmbedTimings {
  tokenizationNs: number;
  /** The longest wait of any input of the call. */
  queueNs: number;
  /** The longest batch any input of the call rode in. */
  inferenceNs: number;
  totalNs: number;
}

/** One embedded input. */
export interface EmbeddedInput {
  vector: Float32Array;
  tokenCount: number;
  truncated: boolean;
}

/** The answer to an Embed call, inputs in request order. */
export interface EmbedResult {
  embeddings: EmbeddedInput[];
  totalTokens: number;
  timings: EmbedTimings;
  model: ModelIdentity;
}
