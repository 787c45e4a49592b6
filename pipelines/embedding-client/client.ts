/** A gRPC client of the embedding server (jude.embedding.v1), used by the pipelines and tests: unary Embed, a long-lived stream, Info. */
import {
  credentials,
  Metadata,
  status as GrpcStatus,
  type Client,
  type ServiceError,
  type ClientDuplexStream,
} from "@grpc/grpc-js";
import { EmbeddingClientError } from "./errors.ts";
import type { EmbedResponseMessage } from "../../serving/transport/embed-messages.ts";
import { loadProtos } from "../../serving/transport/proto.ts";

export { EmbeddingClientError, isRefusedEmbeddingInput, isRetryableEmbeddingError } from "./errors.ts";

/** How to reach a server. */
export interface EmbeddingClientOptions {
  /** host:port of the server's gRPC port. */
  address: string;
  /** TLS: `true` for the system CAs, or the PEM CA that signed the server certificate. */
  tls?: boolean | { ca?: Buffer | string; serverName?: string };
  /** Bearer token, sent as `authorization: Bearer <token>`. */
  token?: string;
  /** Deadline of unary calls unless the call sets one. */
  deadlineMs?: number;
}

/** One input; a plain string is `{ text }`. */
export type ClientInput = string | { text: string; promptName?: string; fields?: Record<string, string> };

/** Per-call options. */
export interface EmbedOptions {
  truncate?: boolean;
  normalize?: boolean;
  dimensions?: number;
  truncationDirection?: "right" | "left";
  signal?: AbortSignal;
  deadlineMs?: number;
}

/** How often a connection with calls in flight is pinged, and how long an answer may take. */
const KEEPALIVE_TIME_MS = 15_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;

/** A decoded Embed answer. */
export interface EmbedAnswer {
  vectors: Float32Array[];
  tokenCounts: number[];
  truncated: boolean[];
  dimensions: number;
  model: { name: string; version: string; digest: string };
  totalTokens: number;
  timings: { tokenizationNs: number; queueNs: number; inferenceNs: number; totalNs: number };
}

/** The wire message (the server's own type); an older server may send no timings. */
type RawResponse = Omit<EmbedResponseMessage, "timings"> & { timings: EmbedAnswer["timings"] | null };

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline?: Date },
  callback: (error: ServiceError | null, response: unknown) => void,
) => { cancel(): void };

/**
 * A typed client of jude.embedding.v1 for the nearline and bootstrap pipelines: unary `embed`, a
 * long-lived `stream()` for high-rate pipelines, `info`, and `embedTexts` in the pipelines'
 * `(texts, signal) => vectors` shape. Failures are `EmbeddingClientError`s that say whether to retry.
 */
export class EmbeddingClient {
  readonly #client: Client;
  readonly #options: EmbeddingClientOptions;
  #token: string | undefined;

  constructor(options: EmbeddingClientOptions) {
    this.#options = options;
    this.#token = options.token;
    const channelCredentials =
      options.tls === undefined || options.tls === false
        ? credentials.createInsecure()
        : credentials.createSsl(
            options.tls === true || options.tls.ca === undefined ? null : Buffer.from(options.tls.ca),
          );
    const channelOptions =
      typeof options.tls === "object" && options.tls.serverName
        ? { "grpc.ssl_target_name_override": options.tls.serverName }
        : {};
    this.#client = new (loadProtos().embedding)(options.address, channelCredentials, {
      ...channelOptions,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      // A server pod that vanishes with its node sends no FIN or RST: without pings the channel would
      // keep sending calls into the silent connection (each timing out) for as long as the kernel
      // retransmits, about 15 minutes. Pinged every 15 s while calls run (the server allows it), an
      // unanswered ping for 5 s closes the connection and the next call reconnects through the Service.
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    });
  }

  /** Embeds inputs in one call; vectors come back in input order. */
  async embed(inputs: readonly ClientInput[], options: EmbedOptions = {}): Promise<EmbedAnswer> {
    const raw = (await this.#unary("Embed", toRequest(inputs, options, ""), options)) as RawResponse;
    return decodeResponse(raw);
  }

  /** The pipelines' `EmbedCall`: texts in, vectors out. */
  embedTexts = async (texts: string[], signal?: AbortSignal): Promise<Float32Array[]> =>
    (await this.embed(texts, signal ? { signal } : {})).vectors;

  /** The server's model and limits. */
  async info(): Promise<Record<string, unknown>> {
    return (await this.#unary("Info", {}, {})) as Record<string, unknown>;
  }

  /** Opens a bidirectional stream; see `EmbeddingStream`. */
  stream(): EmbeddingStream {
    const call = (
      this.#client as unknown as { EmbedStream(metadata: Metadata): ClientDuplexStream<unknown, unknown> }
    ).EmbedStream(this.#metadata());
    return new EmbeddingStream(call);
  }

  /** Sends `token` on the calls started from now on (a rotated token, read again). */
  setToken(token: string): void {
    this.#token = token;
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }

  #metadata(): Metadata {
    const metadata = new Metadata();
    if (this.#token !== undefined) metadata.set("authorization", `Bearer ${this.#token}`);
    return metadata;
  }

  #unary(method: string, request: unknown, options: EmbedOptions): Promise<unknown> {
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs;
    const callOptions = deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + deadlineMs) };
    const invoke = (this.#client as unknown as Record<string, UnaryMethod>)[method]?.bind(this.#client);
    if (invoke === undefined) throw new Error(`no method ${method}`);
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      // The listener goes when the call ends: a worker passes one long-lived signal to every call.
      const cancel = (): void => call.cancel();
      const call = invoke(request, this.#metadata(), callOptions, (error, response) => {
        signal?.removeEventListener("abort", cancel);
        // CANCELLED without the caller's abort: the server cut the call (a drain that timed out).
        if (error) reject(signal?.aborted ? EmbeddingClientError.fromServiceError(error) : cutFailure(error));
        else resolve(response);
      });
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener("abort", cancel, { once: true });
    });
  }
}

/**
 * Many Embed requests over one stream, answered as they complete; each `embed` resolves with its own
 * answer. When the stream breaks, pending calls reject with a retryable error and the stream is done:
 * open a new one.
 */
export class EmbeddingStream {
  readonly #call: ClientDuplexStream<unknown, unknown>;
  readonly #pending = new Map<string, { resolve(answer: EmbedAnswer): void; reject(error: Error): void }>();
  #nextId = 0;
  #failure: Error | undefined;

  constructor(call: ClientDuplexStream<unknown, unknown>) {
    this.#call = call;
    call.on(
      "data",
      (message: {
        requestId: string;
        response?: RawResponse;
        error?: { grpcCode: number; code: string; message: string };
      }) => {
        const pending = this.#pending.get(message.requestId);
        if (pending === undefined) return;
        this.#pending.delete(message.requestId);
        if (message.error)
          pending.reject(
            new EmbeddingClientError(message.error.grpcCode, message.error.message, message.error.code),
          );
        else if (message.response) pending.resolve(decodeResponse(message.response));
      },
    );
    // This client never cancels a stream: a CANCELLED one was cut by the server.
    call.on("error", (error: ServiceError) => this.#fail(cutFailure(error)));
    call.on("end", () => this.#fail(new EmbeddingClientError(14, "the embedding stream ended", undefined)));
  }

  /** Sends one request on the stream. */
  embed(
    inputs: readonly ClientInput[],
    options: Omit<EmbedOptions, "signal" | "deadlineMs"> = {},
  ): Promise<EmbedAnswer> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const requestId = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#call.write(toRequest(inputs, options, requestId));
    });
  }

  /** Half-closes the stream once every pending request is answered. */
  close(): void {
    this.#call.end();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/**
 * The error of a call the client did not cancel. CANCELLED then means the server cut it (a serving pod
 * stopping: RST_STREAM CANCEL once its drain is over): UNAVAILABLE, retryable on another replica (or a
 * new stream), rather than CANCELLED, which pipelines take for their own cancellation and do not retry.
 */
function cutFailure(error: ServiceError): EmbeddingClientError {
  if (error.code !== GrpcStatus.CANCELLED) return EmbeddingClientError.fromServiceError(error);
  return new EmbeddingClientError(
    GrpcStatus.UNAVAILABLE,
    `the server cut the call (${error.details || error.message})`,
    undefined,
    { cause: error },
  );
}

function toRequest(
  inputs: readonly ClientInput[],
  options: EmbedOptions,
  requestId: string,
): Record<string, unknown> {
  return {
    inputs: inputs.map((input) =>
      typeof input === "string"
        ? { text: input }
        : { text: input.text, promptName: input.promptName ?? "", fields: input.fields ?? {} },
    ),
    truncate: options.truncate ?? false,
    normalize: options.normalize,
    dimensions: options.dimensions,
    truncationDirection:
      options.truncationDirection === "left" ? "TRUNCATION_DIRECTION_LEFT" : "TRUNCATION_DIRECTION_RIGHT",
    requestId,
  };
}

function decodeResponse(raw: RawResponse): EmbedAnswer {
  return {
    vectors: raw.embeddings.map((embedding) => decodeVector(embedding.vector)),
    tokenCounts: raw.embeddings.map((embedding) => embedding.tokenCount),
    truncated: raw.embeddings.map((embedding) => embedding.truncated),
    dimensions: raw.dimensions,
    model: { name: raw.modelName, version: raw.modelVersion, digest: raw.modelDigest },
    totalTokens: raw.totalTokens,
    timings: raw.timings ?? { tokenizationNs: 0, queueNs: 0, inferenceNs: 0, totalNs: 0 },
  };
}

/** Packed little-endian float32 bytes to a Float32Array (copied: the message buffer is unaligned). */
export function decodeVector(bytes: Uint8Array): Float32Array {
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return vector;
}
