import { Metadata, status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import { isServingError, servingErrors, type ServingError, type ServingErrorKind } from "../core/errors.ts";

/**
 * The one place where serving errors become transport statuses (cf. text-embeddings-inference's
 * `ErrorType` -> `tonic::Status` / HTTP mapping). Anything that is not a catalogued error is an
 * internal error whose details never reach the client.
 */
const grpcCodes: Record<ServingErrorKind, GrpcStatus> = {
  "invalid-argument": GrpcStatus.INVALID_ARGUMENT,
  "too-large": GrpcStatus.RESOURCE_EXHAUSTED,
  overloaded: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  cancelled: GrpcStatus.CANCELLED,
  internal: GrpcStatus.INTERNAL,
};

const httpStatuses: Record<ServingErrorKind, number> = {
  "invalid-argument": 400,
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

/** The HTTP status, headers and OpenAI-style body for an error. */
export function toHttpError(error: unknown): {
  status: number;
  headers: Record<string, string>;
  body: { error: { message: string; type: string; code: string } };
} {
  const servingError = asServingError(error);
  const headers: Record<string, string> = {};
  if (servingError.kind === "overloaded" || servingError.kind === "unavailable") headers["retry-after"] = "1";
  if (servingError.kind === "unauthenticated") headers["www-authenticate"] = 'Bearer realm="jude"';
  return {
    status: httpStatuses[servingError.kind],
    headers,
    body: {
      error: {
        message: servingError.message,
        type: openAiTypes[servingError.kind],
        code: servingError.publicCode,
      },
    },
  };
}

/** The gRPC code name used as the `code` metric label, for both transports. */
export function codeLabel(error: unknown): string {
  if (error === undefined) return "OK";
  return GrpcStatus[grpcCodes[asServingError(error).kind]] ?? "UNKNOWN";
}
