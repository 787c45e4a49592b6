// A reconcile that fails, shown on the object. Its first failure at once: Ready False and Reconciling
// True with reason ReconcileError and a one-line message naming the cause (kstatus' "in progress": it is
// retried, and usually transient, so no tool reports the object as failed for it, and no Event; not
// over an object Stalled about its current generation, whose cause still stands, nor over one Ready
// at it, which an isolated failure would flap, nor over one waiting at it for a cause the caller names
// as standing). One
// that keeps failing: Ready False and Stalled True with reason ReconcileError (kstatus' "not making
// progress", as a Deployment past its progress deadline; Argo CD and Flux health checks report it as
// degraded instead of waiting forever) and a Warning Event. The rest of the status stays as the last
// successful reconcile wrote it; the next successful reconcile replaces the trio with the controller's
// own verdict. The runtime decides when a failure is persistent (operator/runtime/failure-streaks.ts).
// An object the runtime does not reconcile at all, because an informer its reconcile reads from could
// not list (the operator's RBAC refuses it), says so the same way: Stalled with reason ReconcileError
// naming the resource, the namespace and the API server's answer, and a Warning Event, written once
// rather than on each retry.
import { credentialQueryParameters } from "../../crds/patterns.ts";
import { isRefused } from "../../operator/runtime/api-error.ts";
import type { ResourceType } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext, ReconcileFailure } from "../../operator/runtime/types.ts";
import type { Condition } from "../../crds/index.ts";
import { conditionSays, conditionTime, findCondition, type Kstatus } from "./conditions.ts";
import { writeVerdictKeepingStatus } from "./status-writer.ts";
import { headOf } from "./text.ts";

/** The condition reason of a persistent reconcile failure. */
export const reconcileErrorReason = "ReconcileError";

/** Longest cause text kept in a condition message. */
const maxCauseLength = 400;

/**
 * One line of text naming what went wrong: the error's message, then those of what caused it (its
 * `cause`, or the first of an AggregateError's `errors`, down to the socket error a client library
 * wrapped), without stack traces or line breaks, credentials in URLs and `password=`/`token=` values
 * masked, cut at a few hundred characters.
 */
export function describeFailure(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth += 1) {
    const text = messageOf(current).replace(/\s+/g, " ").trim().replace(/\.$/, "");
    // An abort under a described error is how a time limit ended it, not what went wrong.
    if (parts.length > 0 && isAbort(current)) break;
    if (text !== "" && !parts.some((part) => part.includes(text))) parts.push(text);
    current = nextCause(current);
  }
  const line = redactSecrets(parts.join(": ")) || "unknown error";
  return line.length > maxCauseLength ? `${headOf(line, maxCauseLength - 1)}…` : line;
}

function messageOf(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message;
  return typeof error === "object" ? "" : String(error);
}

function isAbort(error: unknown): boolean {
  const name = (error as { name?: unknown }).name;
  return name === "AbortError" || name === "TimeoutError";
}

function nextCause(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  if (cause !== undefined) return cause;
  return Array.isArray(errors) ? errors[0] : undefined;
}

/**
 * A `key=value` whose key names a credential: every signed-URL parameter a spec is refused for
 * (credentialQueryParameters: `X-Amz-Signature`, `X-Goog-Credential`, `sig`, `access_token`...) and
 * any key ending in password, token, secret or key-like words (`db_password`, `X-Amz-Security-Token`).
 */
const secretAssignment = new RegExp(
  `(?<![A-Za-z0-9_.-])((?:${credentialQueryParameters.join("|")})|[A-Za-z0-9_.-]*(?:password|passwd|pwd|token|secret|apikey|api_key|signature|credential))=[^\\s&;,"']+`,
  "gi",
);

/** Masks the user-info of URLs (`redis://:pass@host` -> `redis://***@host`) and secret-looking values. */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, "$1***@")
    .replace(secretAssignment, "$1=***")
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, "$1 ***");
}

/**
 * The kstatus verdict of a failure: its first (persistent false or absent), being retried; or one
 * persisting since `sinceMs`. Each message stays the same while the streak lasts, so it is written once.
 */
export function reconcileErrorVerdict(
  failure: Pick<ReconcileFailure, "error" | "sinceMs"> & { persistent?: boolean },
): Kstatus {
  const since = conditionTime(new Date(failure.sinceMs));
  if (failure.persistent === false)
    return {
      state: "Reconciling",
      reason: reconcileErrorReason,
      message: `reconciling failed at ${since} (retrying with back-off): ${describeFailure(failure.error)}`,
    };
  return {
    state: "Stalled",
    reason: reconcileErrorReason,
    message: `reconciling has failed on every try since ${since} (retrying with back-off): ${describeFailure(failure.error)}`,
  };
}

/**
 * What of an object's status a failure report keeps, as its controller would see it: `raw` unchanged,
 * or less a field its spec no longer stands behind (an EmbeddingModel's approval, withApprovalAsSeen),
 * which would otherwise stay for as long as the failures last.
 */
export type StatusAsSeen = (raw: KubeObject) => KubeObject;

/**
 * Writes the failure into the status of the object of `type` at `context.key` (as the cache holds it)
 * and, once it is persistent, records a Warning Event. Every other status field and condition is kept,
 * as `asSeen` sees them.
 */
export async function reportReconcileError(
  type: ResourceType,
  context: ReconcileContext,
  failure: ReconcileFailure,
  standingReasons: ReadonlySet<string> = new Set(),
  asSeen: StatusAsSeen = (raw) => raw,
): Promise<void> {
  const object = context.cache.get(type, context.key);
  if (object === undefined || object.metadata?.deletionTimestamp) return;
  // A first failure is not written over an object Stalled about its current generation (a missing
  // Secret, a failed gate: the user must act): "retrying" would turn a tool's Degraded into
  // Progressing, and the next reconcile would announce the same Stalled cause again as a new Event.
  // Nor over one Ready at its current generation: an isolated failure (a store blip, an API timeout)
  // would flip Ready to False and back, with both transition times reset, the "Ready" Event again and
  // health checks and `kubectl wait` seeing a healthy object go unhealthy for one retry. Either shows
  // the failure once it persists. Nor over one in progress whose Ready reason at its current
  // generation is among `standingReasons`: a cause the user must act on that is told once with a
  // Warning Event (an EmbeddingModel waiting for a missing Secret or topic, a BootstrapRun for its
  // changelog topic), which the next reconcile would tell again as new. An object otherwise in
  // progress gets it at once, over a message gone stale.
  if (
    failure.persistent === false &&
    (trueAtCurrentGeneration(object, "Stalled") ||
      trueAtCurrentGeneration(object, "Ready") ||
      standingReasons.has(atCurrentGeneration(object, "Ready")?.reason ?? ""))
  )
    return;
  const verdict = reconcileErrorVerdict(failure);
  await writeVerdictKeepingStatus(context, asSeen(object), verdict);
  if (failure.persistent)
    context.events.warning(object, reconcileErrorReason, describeFailure(failure.error));
}

/** Whether `object`'s condition `type` is True about its current generation (what kstatus reads). */
function trueAtCurrentGeneration(object: KubeObject, type: "Ready" | "Stalled"): boolean {
  return atCurrentGeneration(object, type)?.status === "True";
}

/** `object`'s condition `type` when it is about its current generation, else undefined. */
function atCurrentGeneration(object: KubeObject, type: "Ready" | "Stalled"): Condition | undefined {
  const status = object.status as { observedGeneration?: number; conditions?: Condition[] } | undefined;
  const condition = findCondition(status?.conditions, type);
  const generation = object.metadata?.generation;
  return condition !== undefined &&
    (generation === undefined ||
      (status?.observedGeneration === generation && condition.observedGeneration === generation))
    ? condition
    : undefined;
}

/** The kstatus verdict of an object not reconciled because its cache could not list (`cause`). */
export function notSyncedVerdict(cause: string): Kstatus {
  return {
    state: "Stalled",
    reason: reconcileErrorReason,
    message: `not reconciled until the operator can list what it reads (retrying): ${redactSecrets(cause)}`,
  };
}

/**
 * Writes into the status of the object of `type` at `context.key` (as its own informer holds it) that
 * it is not reconciled and why, keeping every other field (as `asSeen` sees them), and records a
 * Warning Event; nothing when its Stalled condition says so already about its current generation (an
 * earlier operator process wrote it).
 */
export async function reportNotSynced(
  type: ResourceType,
  context: ReconcileContext,
  cause: string,
  asSeen: StatusAsSeen = (raw) => raw,
): Promise<void> {
  const object = context.cache.get(type, context.key);
  if (object === undefined || object.metadata?.deletionTimestamp) return;
  const verdict = notSyncedVerdict(cause);
  const conditions = (object.status as { conditions?: Condition[] } | undefined)?.conditions;
  const stalled = findCondition(conditions, "Stalled");
  // Said already only when said about this generation: kstatus reads Stalled at no other.
  const generation = object.metadata?.generation;
  const current =
    generation === undefined ||
    ((object.status as { observedGeneration?: number } | undefined)?.observedGeneration === generation &&
      stalled?.observedGeneration === generation);
  if (stalled?.status === "True" && current && conditionSays(stalled, verdict.reason, verdict.message))
    return;
  try {
    await writeVerdictKeepingStatus(context, asSeen(object), verdict);
  } catch (error) {
    // The operator may not write the status there either (the runtime then stops trying until the
    // cause changes): the Event is what is left to tell the user. A 401 is retried (a token being
    // re-read), so it sends no Event each time.
    if (isRefused(error)) context.events.warning(object, reconcileErrorReason, verdict.message);
    throw error;
  }
  context.events.warning(object, reconcileErrorReason, verdict.message);
}
