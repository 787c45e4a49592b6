/** Stable codes of model download failures. */
export type FetchModelErrorCode =
  | "UNSUPPORTED_URI"
  | "NOT_FOUND"
  | "HTTP_STATUS"
  | "NETWORK"
  | "DIGEST_MISMATCH"
  | "INVALID_ARCHIVE"
  | "UNSAFE_ARCHIVE"
  | "LOCAL_WRITE";

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

/** Errors of the local filesystem that another attempt cannot fix (read-only, full, no permission). */
const localWriteErrors = new Set(["EROFS", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "ENOTDIR", "EISDIR"]);

/**
 * A filesystem error as LOCAL_WRITE (not retried: the volume, its size or its permissions must change),
 * or undefined for any other error.
 */
export function localWriteError(error: unknown): FetchModelError | undefined {
  const { code, path, message } = error as { code?: unknown; path?: unknown; message?: unknown };
  if (typeof code !== "string" || !localWriteErrors.has(code)) return undefined;
  const where = typeof path === "string" ? ` ${path}` : "";
  return new FetchModelError(
    "LOCAL_WRITE",
    `cannot write${where}: ${String(message)} (${code}: check the destination volume's space, permissions and that it is not read-only; retrying would not help)`,
    { cause: error },
  );
}
