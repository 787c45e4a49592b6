/** Why the backend could not start; these stop the server at start-up with a clear message. */
export type BackendErrorCode =
  "CUDA_UNAVAILABLE" | "MODEL_LOAD_FAILED" | "MODEL_UNSUPPORTED" | "WORKER_FAILED";

/** A start-up failure of the inference backend, with a stable code and the original cause. */
export class BackendError extends Error {
  override readonly name = "BackendError";
  readonly code: BackendErrorCode;

  constructor(code: BackendErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
