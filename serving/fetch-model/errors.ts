/** Stable codes of model download failures. */
export type FetchModelErrorCode =
  | "UNSUPPORTED_URI"
  | "NOT_FOUND"
  | "HTTP_STATUS"
  | "NETWORK"
  | "DIGEST_MISMATCH"
  | "INVALID_ARCHIVE"
  | "UNSAFE_ARCHIVE";

/**
 * Exit code of `jude fetch-model` when the artifact does not match its sha256: waiting or retrying
 * cannot fix it, so the operator reads this code in the init container's status and stalls at once.
 */
export const digestMismatchExitCode = 3;

/** A model download failure; `retryable` failures are retried (resuming) before they surface. */
export class FetchModelError extends Error {
  override readonly name = "FetchModelError";
  readonly code: FetchModelErrorCode;
  readonly retryable: boolean;

  constructor(
    code: FetchModelErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}
