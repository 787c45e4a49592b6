// Finds what keeps the spec's version from being rendered or started: a spec the pods cannot honour,
// a serving config `jude serve` would refuse, a missing Secret (or key) or PersistentVolumeClaim. The
// live reads are the reconciler's; turning results into Blockers is pure.
import type { EmbeddingModel } from "../../crds/index.ts";
import { redactUri, sameArtifact } from "../../serving/fetch-model/redact.ts";
import { unsupportedSpec, type Reference } from "./references.ts";
import type { ServingState } from "./version-status.ts";

/** How often a model blocked on a missing Secret or claim looks again (they are not watched). */
export const missingReferencePollMs = 15_000;

/** `message` of something waited for that is not watched, saying when the operator looks again. */
export function lookingAgain(message: string): string {
  return `${message} (the operator looks again every ${missingReferencePollMs / 1000} s)`;
}

/** A reason the spec's version cannot be served until the user acts (missing Secret, bad spec). */
export interface Blocker {
  reason: string;
  message: string;
  /**
   * Cured by creating or editing an object the operator does not watch (a Secret, a claim), so the
   * model is looked at again every missingReferencePollMs instead of waiting for its next event.
   */
  recheck?: true;
}

/**
 * What a live read found for a reference: absent, or present with these data keys (Secrets) and, for a
 * reference with `urlOf`, the URL under that key as fetch-model may print it (redactUri: no query, no
 * user:password@), so the credential never reaches a blocker.
 */
export type ReferenceLookup =
  { found: false } | { found: true; keys?: readonly string[]; redactedUrl?: string };

/** The blocker for a reference, or undefined when it is satisfied. */
export function referenceBlocker(reference: Reference, lookup: ReferenceLookup): Blocker | undefined {
  const blocker = unmetReference(reference, lookup);
  return blocker === undefined ? undefined : { ...blocker, recheck: true };
}

/**
 * What a live read of `reference` found (`object`, undefined when absent). Only the key names of a
 * Secret are looked at, and a URL key as redactUri prints it (no query, no user:password@): no value
 * leaves this function.
 */
export function referenceLookup(reference: Reference, object: object | undefined): ReferenceLookup {
  if (object === undefined) return { found: false };
  const data = ((object as { data?: unknown }).data ?? {}) as Record<string, unknown>;
  const urlValue = reference.urlOf === undefined ? undefined : data[reference.urlOf.key];
  return {
    found: true,
    keys: Object.keys(data),
    ...(typeof urlValue === "string"
      ? { redactedUrl: redactUri(Buffer.from(urlValue, "base64").toString("utf8").trim()) }
      : {}),
  };
}

/** Why `reference` is not satisfied (reason and message), or undefined when it is. */
export function unmetReference(
  reference: Reference,
  lookup: ReferenceLookup,
): Omit<Blocker, "recheck"> | undefined {
  if (!lookup.found)
    return {
      reason: reference.kind === "Secret" ? "SecretNotFound" : "PersistentVolumeClaimNotFound",
      message: `${reference.kind} ${reference.name} (${reference.field}) does not exist`,
    };
  const missing = (reference.keys ?? []).filter((key) => !(lookup.keys ?? []).includes(key));
  if (missing.length > 0)
    return {
      reason: "SecretKeyNotFound",
      message: `Secret ${reference.name} has no key ${missing.join(", ")} (${reference.field})`,
    };
  // fetch-model refuses a Secret URL of another artifact and exits 2 in every pod's init container;
  // said here, the model stalls at once with the reason instead of crash-looping to its deadline.
  const urlOf = reference.urlOf;
  if (urlOf !== undefined && lookup.redactedUrl !== undefined && !sameArtifact(lookup.redactedUrl, urlOf.uri))
    return {
      reason: "SecretURLMismatch",
      message: `the URL in Secret ${reference.name} key ${urlOf.key} (${reference.field}) names ${lookup.redactedUrl}, not ${redactUri(urlOf.uri)} (${urlOf.uriField}): they must name the same artifact, the Secret's with its credentials`,
    };
  return undefined;
}

/** Blockers found in the spec alone, before any lookup; `renderError` is the builders' error if any. */
export function specBlockers(model: EmbeddingModel, renderError: Error | undefined): Blocker[] {
  const unsupported = unsupportedSpec(model);
  const blockers: Blocker[] = [];
  if (unsupported !== undefined) blockers.push({ reason: "UnsupportedSpec", message: unsupported });
  if (renderError !== undefined)
    blockers.push({
      reason: "InvalidServingConfig",
      message: `jude serve would refuse the rendered config: ${renderError.message}`,
    });
  return blockers;
}

/**
 * The reason of a pipeline's changelog topic that does not exist (ChangelogTopicMissing): the model's
 * bootstrap gate and a BootstrapRun wait for it, looking again every missingReferencePollMs.
 */
export const topicNotFoundReason = "TopicNotFound";

/** Reasons of references that do not exist (yet) or lack a key: cured by creating or editing that object. */
export const missingReferenceReasons: ReadonlySet<string> = new Set([
  "SecretNotFound",
  "SecretKeyNotFound",
  "PersistentVolumeClaimNotFound",
  "SecretURLMismatch",
  topicNotFoundReason,
]);

/**
 * The serving state of the spec's version given what blocks it; `observed` is its Deployment's. A spec
 * the pods cannot honour is Stalled: only a spec change cures it. A referenced Secret or claim that is
 * missing (or lacks a key) is waited for, Reconciling with its reason and `blocked`: it may be created
 * after the model (an ExternalSecret, a claim provisioned later), the operator looks again every
 * missingReferencePollMs, and a candidate turns Failed only once the promotion's progress deadline
 * passed, as for pods that cannot be scheduled. The observed ready replicas are kept: pods started
 * before a Secret was deleted still serve.
 */
export function blockedServing(observed: ServingState, blockers: readonly Blocker[]): ServingState {
  if (blockers.length === 0) return observed;
  const stalling = blockers.filter((blocker) => blocker.recheck !== true);
  const first = stalling[0] ?? blockers[0]!;
  const message = [...stalling, ...blockers.filter((blocker) => blocker.recheck === true)]
    .map((entry) => entry.message)
    .join("; ");
  return stalling.length > 0
    ? { state: "Stalled", reason: first.reason, message, readyReplicas: observed.readyReplicas }
    : {
        state: "Reconciling",
        reason: first.reason,
        message: lookingAgain(message),
        readyReplicas: observed.readyReplicas,
        blocked: true,
      };
}
