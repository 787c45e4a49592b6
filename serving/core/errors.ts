/**
 * The serving error catalogue. Every failure a caller can see has a stable code (logged, exported as a
 * metric label and sent to clients in the `jude-error-code` trailer / the OpenAI error `code`) and a
 * kind; transport/status-mapping.ts is the one place that turns kinds into gRPC and HTTP statuses.
 */
export const errorKinds = {
  EMPTY_INPUTS: "invalid-argument",
  TOO_MANY_INPUTS: "invalid-argument",
  EMPTY_TEXT: "invalid-argument",
  INPUT_TOO_LONG: "invalid-argument",
  UNKNOWN_PROMPT: "invalid-argument",
  MISSING_PROMPT_FIELD: "invalid-argument",
  INVALID_DIMENSIONS: "invalid-argument",
  MALFORMED_REQUEST: "invalid-argument",
  UNSUPPORTED_ENCODING: "unsupported-encoding",
  MODEL_NOT_FOUND: "not-found",
  MESSAGE_TOO_LARGE: "too-large",
  OVERLOADED: "overloaded",
  NOT_READY: "unavailable",
  DRAINING: "unavailable",
  MAX_CONNECTION_AGE: "unavailable",
  UNAUTHENTICATED: "unauthenticated",
  CANCELLED: "cancelled",
  BACKEND_FAILED: "internal",
} as const;

/** A stable error code, e.g. "TOO_MANY_INPUTS" (sent to clients with a `JUDE_SERVING_` prefix). */
export type ServingErrorCode = keyof typeof errorKinds;
/** What a code means for the caller; mapped to a transport status in one place. */
export type ServingErrorKind = (typeof errorKinds)[ServingErrorCode];

/** An error the server reports to its caller with a stable code and a specific message. */
export class ServingError extends Error {
  override readonly name = "ServingError";
  readonly code: ServingErrorCode;
  readonly kind: ServingErrorKind;
  /** The top-level request field the error is about, when the transport knows it (OpenAI's `param`). */
  readonly param: string | undefined;

  constructor(code: ServingErrorCode, message: string, options?: { cause?: unknown; param?: string }) {
    super(message, options);
    this.code = code;
    this.kind = errorKinds[code];
    this.param = options?.param;
  }

  /** The code as clients see it. */
  get publicCode(): string {
    return `JUDE_SERVING_${this.code}`;
  }
}

/** Constructors for every catalogued error, so messages stay consistent across transports. */
export const servingErrors = {
  emptyInputs: () => new ServingError("EMPTY_INPUTS", "inputs must not be empty: send at least one input"),
  tooManyInputs: (count: number, limit: number) =>
    new ServingError("TOO_MANY_INPUTS", `too many inputs: ${count} in one call, the limit is ${limit}`),
  emptyText: (index: number) =>
    new ServingError("EMPTY_TEXT", `input ${index} is empty: send a text with at least one character`),
  inputTooLong: (index: number, limit: number) =>
    new ServingError(
      "INPUT_TOO_LONG",
      `input ${index} is longer than the model's limit of ${limit} tokens; set truncate to embed its first ${limit} tokens`,
    ),
  unknownPrompt: (name: string, known: readonly string[]) =>
    new ServingError(
      "UNKNOWN_PROMPT",
      `unknown prompt name "${name}"; this model knows ${known.length > 0 ? known.map((k) => `"${k}"`).join(", ") : "no prompts"}`,
    ),
  missingPromptField: (index: number, prompt: string, field: string) =>
    new ServingError("MISSING_PROMPT_FIELD", `input ${index}: prompt "${prompt}" needs the field "${field}"`),
  invalidDimensions: (requested: number, dimensions: number) =>
    new ServingError(
      "INVALID_DIMENSIONS",
      `dimensions must be between 1 and the model's ${dimensions}, got ${requested}`,
    ),
  malformedRequest: (detail: string, cause?: unknown, param?: string) =>
    new ServingError("MALFORMED_REQUEST", `malformed request: ${detail}`, { cause, param }),
  unsupportedEncoding: (encoding: string) =>
    new ServingError(
      "UNSUPPORTED_ENCODING",
      `Content-Encoding ${encoding} is not supported: send the body uncompressed`,
    ),
  modelNotFound: (requested: string, served: readonly string[]) =>
    new ServingError(
      "MODEL_NOT_FOUND",
      `the model "${requested}" is not served here; this server answers for ${served.map((name) => `"${name}"`).join(", ")}`,
    ),
  messageTooLarge: (size: number, limit: number) =>
    new ServingError(
      "MESSAGE_TOO_LARGE",
      `request of ${size} bytes is larger than the limit of ${limit} bytes`,
    ),
  overloaded: (limit: number) =>
    new ServingError(
      "OVERLOADED",
      `overloaded: more than ${limit} inputs in flight; retry with backoff or on another replica`,
    ),
  overloadedBodies: (limitBytes: number) =>
    new ServingError(
      "OVERLOADED",
      `overloaded: more than ${limitBytes} bytes of request bodies are being received; retry with backoff`,
    ),
  notReady: () => new ServingError("NOT_READY", "the model is still loading; retry shortly"),
  /** Every inference worker died: the server fails liveness and waits to be restarted. */
  workersFailed: () =>
    new ServingError(
      "NOT_READY",
      "the inference workers failed and the server is restarting; retry on another replica",
    ),
  draining: () => new ServingError("DRAINING", "the server is shutting down; retry on another replica"),
  maxConnectionAge: () =>
    new ServingError(
      "MAX_CONNECTION_AGE",
      "the connection reached its maximum age (limits.maxConnectionAgeMs); retry on a new connection",
    ),
  unauthenticated: (reason: "missing" | "invalid") =>
    new ServingError(
      "UNAUTHENTICATED",
      reason === "missing"
        ? "missing bearer token: send 'authorization: Bearer <token>'"
        : "invalid bearer token",
    ),
  cancelled: (cause?: unknown) =>
    new ServingError("CANCELLED", "the call was cancelled by the client", { cause }),
  backendFailed: (cause: unknown) => new ServingError("BACKEND_FAILED", "inference failed", { cause }),
};

/** True for errors from the catalogue. */
export function isServingError(error: unknown): error is ServingError {
  return error instanceof ServingError;
}
