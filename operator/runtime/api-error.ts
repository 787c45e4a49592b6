// Errors of the Kubernetes API, with the HTTP status and the Status reason the server sent, so callers
// decide on codes (404 absent, 409 conflict, 410 gone) instead of parsing messages.

/** A non-success answer of the API server (or a watch ERROR event). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;

  constructor(statusCode: number, message: string, reason?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

/** The error for an HTTP answer whose body may be a metav1.Status. */
export function apiErrorFrom(statusCode: number, what: string, body: string): KubeApiError {
  let message = body.slice(0, 500);
  let reason: string | undefined;
  try {
    const status = JSON.parse(body) as { message?: string; reason?: string };
    message = status.message ?? message;
    reason = status.reason;
  } catch {
    // Not a Status object (a proxy's HTML page, say): keep the text.
  }
  return new KubeApiError(
    statusCode,
    `${what}: ${statusCode} ${reason ?? ""} ${message}`.replace(/\s+/g, " "),
    reason,
  );
}

/** True when the error is a KubeApiError with this HTTP status. */
export function hasStatus(error: unknown, statusCode: number): boolean {
  return error instanceof KubeApiError && error.statusCode === statusCode;
}
