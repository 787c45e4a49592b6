// Errors of the Kubernetes API, with the HTTP status and the Status reason the server sent, so callers
// decide on codes (404 absent, 409 conflict, 410 gone) and causes (NamespaceTerminating) instead of
// parsing messages.

/** A non-success answer of the API server (or a watch ERROR event). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  /** The reasons of the Status's details.causes (e.g. NamespaceTerminating). */
  readonly causes: readonly string[];
  /** The answer's Retry-After header in seconds, when it had a valid one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    statusCode: number,
    message: string,
    reason?: string,
    options?: { cause?: unknown; causes?: readonly string[]; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.causes = options?.causes ?? [];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/**
 * The error for an HTTP answer whose body may be a metav1.Status; `retryAfter` is the answer's
 * Retry-After header (seconds; an HTTP date or garbage is ignored).
 */
export function apiErrorFrom(
  statusCode: number,
  what: string,
  body: string,
  retryAfter?: string | null,
): KubeApiError {
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
  // A server-side apply naming a field the server's schema lacks is refused whole (500, no reason):
  // with a JUDE resource, the installed CRD is older than this operator (an upgrade with the CRDs left
  // behind, crds.install=false), and every status write of that kind fails until the CRDs are applied.
  // The hint comes first: a condition message keeps a few hundred characters (reconcile-error.ts).
  if (statusCode === 500 && /field not declared in schema/.test(message))
    message = `the API server's schema lacks a field this operator writes (an older CRD: apply the CRDs of the operator's release): ${message}`;
  const retryAfterSeconds =
    retryAfter == null || !/^\s*\d+\s*$/.test(retryAfter) ? undefined : Number(retryAfter);
  return new KubeApiError(
    statusCode,
    `${what}: ${statusCode} ${reason ?? ""} ${message}`.replace(/\s+/g, " "),
    reason,
    { causes, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) },
  );
}

/**
 * How long to wait before sending `error`'s request again because the API server asked for that, or
 * undefined when it did not: 429 Too Many Requests (API Priority and Fairness, the max-in-flight
 * limit, a watch cache still filling) after its Retry-After (1 s without one), and a 5xx only when it
 * carries Retry-After. client-go's REST client retries exactly these, up to 10 times, inside the
 * request; other failures go back to the caller (the work queue's back-off, the informer's).
 */
export function serverRetryDelayMs(error: unknown): number | undefined {
  if (!(error instanceof KubeApiError)) return undefined;
  if (error.statusCode === 429) return (error.retryAfterSeconds ?? 1) * 1000;
  if (error.statusCode >= 500 && error.retryAfterSeconds !== undefined) return error.retryAfterSeconds * 1000;
  return undefined;
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

/**
 * Whether the API server refused a request for permissions (403: RBAC; no retry fixes it). Not a 401:
 * credentials the server did not accept (a service-account token being rotated, which the client
 * re-reads from its file at least once a minute) are a failure a retry may fix, not missing rights.
 */
export function isRefused(error: unknown): boolean {
  return hasStatus(error, 403);
}
