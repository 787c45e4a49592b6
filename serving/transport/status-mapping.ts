import { Metadata, status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import {
  isServingError,
  servingErrors,
  type ServingError,
  type ServingErrorCode,
  type ServingErrorKind,
} from "../core/errors.ts";

/**
 * The one place where serving errors become transport statuses (cf. text-embeddings-inference's
 * `ErrorType` -> `tonic::Status` / HTTP mapping). Anything that is not a catalogued error is an
 * internal error whose details never reach the client.
 */
const grpcCodes: Record<ServingErrorKind, GrpcStatus> = {
  "invalid-argument": GrpcStatus.INVALID_ARGUMENT,
  "unsupported-encoding": GrpcStatus.INVALID_ARGUMENT, // HTTP only: grpc-js decodes grpc-encoding itself
  "not-found": GrpcStatus.NOT_FOUND,
  "too-large": GrpcStatus.RESOURCE_EXHAUSTED,
  overloaded: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  cancelled: GrpcStatus.CANCELLED,
  internal: GrpcStatus.INTERNAL,
};

const httpStatuses: Record<ServingErrorKind, number> = {
  "invalid-argument": 400,
  "unsupported-encoding": 415, // RFC 9110 15.5.16, with Accept-Encoding
  "not-found": 404,
  "too-large": 413,
  overloaded: 429,
  unavailable: 503,
  unauthenticated: 401,
  cancelled: 499,
  internal: 500,
};

// OpenAI's error `type` vocabulary, so OpenAI SDKs classify (and retry) our errors as they do theirs.
const openAiTypes: Record<ServingErrorKind, string> = {
  "invalid-argument": "invalid_request_error",
  "unsupported-encoding": "invalid_request_error",
  "not-found": "invalid_request_error",
  "too-large": "invalid_request_error",
  overloaded: "rate_limit_error",
  unavailable: "server_error",
  unauthenticated: "authentication_error",
  cancelled: "invalid_request_error",
  internal: "server_error",
};

/** The trailer that carries the stable error code on gRPC. */
export const ERROR_CODE_TRAILER = "jude-error-code";

/** Makes any thrown value a catalogued error (unknown ones become BACKEND_FAILED, cause kept). */
export function asServingError(error: unknown): ServingError {
  return isServingError(error) ? error : servingErrors.backendFailed(error);
}

/** The gRPC status for an error, with the stable code in a trailer. */
export function toGrpcStatus(error: unknown): StatusObject {
  const servingError = asServingError(error);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, servingError.publicCode);
  return { code: grpcCodes[servingError.kind], details: servingError.message, metadata };
}

// The request field an error is about, as OpenAI's `param` names it.
const openAiParams: Partial<Record<ServingErrorCode, string>> = {
  EMPTY_INPUTS: "input",
  TOO_MANY_INPUTS: "input",
  EMPTY_TEXT: "input",
  INPUT_TOO_LONG: "input",
  UNKNOWN_PROMPT: "prompt_name",
  MISSING_PROMPT_FIELD: "prompt_name",
  INVALID_DIMENSIONS: "dimensions",
  MODEL_NOT_FOUND: "model",
};

/** OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** An HTTP error answer: status, headers and body. */
export interface HttpErrorAnswer<Body> {
  status: number;
  headers: Record<string, string>;
  body: Body;
}

function httpHeaders(servingError: ServingError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (servingError.kind === "overloaded" || servingError.kind === "unavailable") headers["retry-after"] = "1";
  if (servingError.kind === "unauthenticated") headers["www-authenticate"] = 'Bearer realm="jude"';
  if (servingError.kind === "unsupported-encoding") headers["accept-encoding"] = "identity";
  return headers;
}

/**
 * The HTTP status, headers and OpenAI-style body for an error. `code` is the stable catalogue code,
 * except `model_not_found`, which OpenAI clients know by that name.
 */
export function toHttpError(error: unknown): HttpErrorAnswer<OpenAiErrorBody> {
  const servingError = asServingError(error);
  return {
    status: httpStatuses[servingError.kind],
    headers: httpHeaders(servingError),
    body: {
      error: {
        message: servingError.message,
        type: openAiTypes[servingError.kind],
        param: servingError.param ?? openAiParams[servingError.code] ?? null,
        code: servingError.code === "MODEL_NOT_FOUND" ? "model_not_found" : servingError.publicCode,
      },
    },
  };
}

/** text-embeddings-inference's error body: `{"error", "error_type"}`. */
export interface TeiErrorBody {
  error: string;
  error_type: string;
}

// TEI's status codes and error types (its HTTP API description): an empty batch or an empty text is
// 400 Empty (TEI's tokenization refuses "" with "`inputs` cannot be empty"), too many inputs 413, any
// other invalid input 422 Validation, overload 429, a failed inference 424.
const teiAnswers: Record<ServingErrorCode, [number, string]> = {
  EMPTY_INPUTS: [400, "Empty"],
  TOO_MANY_INPUTS: [413, "Validation"],
  MESSAGE_TOO_LARGE: [413, "Validation"],
  EMPTY_TEXT: [400, "Empty"],
  INPUT_TOO_LONG: [422, "Validation"],
  UNKNOWN_PROMPT: [422, "Validation"],
  MISSING_PROMPT_FIELD: [422, "Validation"],
  INVALID_DIMENSIONS: [422, "Validation"],
  MALFORMED_REQUEST: [422, "Validation"],
  UNSUPPORTED_ENCODING: [415, "Validation"],
  MODEL_NOT_FOUND: [422, "Validation"],
  OVERLOADED: [429, "Overloaded"],
  NOT_READY: [503, "Unhealthy"],
  DRAINING: [503, "Unhealthy"],
  MAX_CONNECTION_AGE: [503, "Unhealthy"],
  // TEI answers 401 without a body; a body that says why helps and harms no TEI client.
  UNAUTHENTICATED: [401, "Unauthorized"],
  CANCELLED: [499, "Validation"],
  BACKEND_FAILED: [424, "Backend"],
};

/** The HTTP status, headers and TEI-style body for an error on TEI's HTTP routes. */
export function toTeiHttpError(error: unknown): HttpErrorAnswer<TeiErrorBody> {
  const servingError = asServingError(error);
  const [status, errorType] = teiAnswers[servingError.code];
  return {
    status,
    headers: { ...httpHeaders(servingError), [ERROR_CODE_TRAILER]: servingError.publicCode },
    body: { error: servingError.message, error_type: errorType },
  };
}

/** The gRPC code name used as the `code` metric label, for both transports. */
export function codeLabel(error: unknown): string {
  if (error === undefined) return "OK";
  return GrpcStatus[grpcCodes[asServingError(error).kind]] ?? "UNKNOWN";
}
