// Errors of the Kubernetes API, with the HTTP status and the Status reason the server sent, so callers
// decide on codes (404 absent, 409 conflict, 410 gone) and causes (NamespaceTerminating) instead of
// parsing messages.

/** A non-success answer of the API server (or a watch ERROR event). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  /** The reasons of the Status's details.causes (e.g. NamespaceTerminating). */
  readonly causes: readonly string[];

  constructor(
    statusCode: number,
    message: string,
    reason?: string,
    options?: { cause?: unknown; causes?: readonly string[] },
  ) {
    super(message, options);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.causes = options?.causes ?? [];
  }
}

/** The error for an HTTP answer whose body may be a metav1.Status. */
export function apiErrorFrom(statusCode: number, what: string, body: string): KubeApiError {
  let message = body.slice(0, 500);
  let reason: string | undefined;
  let causes: string[] = [];
  try {
    const status = JSON.parse(body) as {
      message?: string;
      reason?: string;
      details?: { causes?: { reason?: string }[] };
    };
    message = status.message ?? message;
    reason = status.reason;
    causes = (status.details?.causes ?? []).flatMap((cause) => (cause.reason ? [cause.reason] : []));
  } catch {
    // Not a Status object (a proxy's HTML page, say): keep the text.
  }
  return new KubeApiError(
    statusCode,
    `${what}: ${statusCode} ${reason ?? ""} ${message}`.replace(/\s+/g, " "),
    reason,
    { causes },
  );
}

/** True when the error is a KubeApiError with this HTTP status. */
export function hasStatus(error: unknown, statusCode: number): boolean {
  return error instanceof KubeApiError && error.statusCode === statusCode;
}

/**
 * True when the API server refused a write because the object's namespace is being deleted (403,
 * cause NamespaceTerminating). Everything in that namespace, the reconciled object included, is on
 * its way out: nothing can be created there any more, and retrying cannot change that.
 */
export function isNamespaceTerminating(error: unknown): boolean {
  return hasStatus(error, 403) && (error as KubeApiError).causes.includes("NamespaceTerminating");
}
