// The Secrets and claims of an older version the operator still serves (the active one while the spec
// promotes another, the draining one during the bake after a cutover). Such a version is rendered from
// its record, which may name another TLS or token Secret than today's spec, and the spec's references
// are all the reconcile checks (blockers.ts). One of them missing leaves that version's running pods
// serving, but a pod that stops (a node drained, an eviction, a crash) cannot start again: a missing
// Secret volume keeps it in ContainerCreating. It does not hold the promotion back (promoting the new
// version is often the cure), so it is said beside the verdict: in its message and a Warning Event,
// once. Pure.
import type { EmbeddingModelStatus } from "../../crds/index.ts";
import { cutTo, maxConditionMessage } from "../shared/conditions.ts";
import { unmetReference, type ReferenceLookup } from "./blockers.ts";
import { promotionEvents, type PromotionEvent } from "./promotion-status.ts";
import type { PromotionDecision } from "./promotion.ts";
import type { Reference } from "./references.ts";

/** What an older served version's pods need and cannot find. */
export interface OlderVersionProblem {
  version: string;
  /** The reason a spec's reference would have (SecretNotFound, SecretKeyNotFound, ...). */
  reason: string;
  message: string;
}

/** Whose pods an older version's problem concerns: its serving pods, or a pipeline's workers of it. */
export interface OlderVersionPods {
  /** What they are called, e.g. "pods", "workers". */
  plural: string;
  singular: string;
  /** What the running ones go on doing, e.g. "serving". */
  going: string;
}

/**
 * What every problem's message says, whoever its pods are; no verdict's message says it (see
 * withoutOlderVersionProblems).
 */
const consequencePhrase = "that stops cannot start again until";

/** The serving pods of a version (the default). */
export const servingPods: OlderVersionPods = { plural: "pods", singular: "pod", going: "serving" };

/**
 * The problem of `version`'s `reference` (from its record) given what a live read found, if any;
 * `pods` are those of that version which mount or read it.
 */
export function olderVersionProblem(
  version: string,
  reference: Reference,
  lookup: ReferenceLookup,
  pods: OlderVersionPods = servingPods,
): OlderVersionProblem | undefined {
  const unmet = unmetReference(reference, lookup);
  if (unmet === undefined) return undefined;
  const named = `${reference.kind} ${reference.name} (${reference.field} in the version's record)`;
  const consequence = (what: string) =>
    `its running ${pods.plural} keep ${pods.going}, but a ${pods.singular} ${consequencePhrase} ${what}`;
  // The model's download URL is an environment value of the init container; the others are volumes.
  const verb = reference.field === "spec.model.uriSecretRef" ? "read" : "mount";
  const missingKeys = (reference.keys ?? []).filter((key) => lookup.found && !lookup.keys?.includes(key));
  const message = !lookup.found
    ? `version ${version}'s ${pods.plural} ${verb} ${named}, which does not exist: ${consequence(`the ${reference.kind} is restored`)}`
    : missingKeys.length > 0
      ? `version ${version}'s ${pods.plural} read ${named}, which has no key ${missingKeys.join(", ")}: ${consequence(`the key is restored`)}`
      : `version ${version} (as its record says): ${unmet.message}: ${consequence("this is fixed")}`;
  return { version, reason: unmet.reason, message };
}

/**
 * `message` with `problems` said after it, for a condition: within the conditions' cap the message
 * itself is cut, not what is said after it (cut off, the problems would read as new at every
 * reconcile, olderVersionEvents, each a Warning again). The same problems give the same text on every
 * reconcile; none, the message as it was.
 */
export function withProblemsSaid(message: string, problems: readonly OlderVersionProblem[]): string {
  if (problems.length === 0) return message;
  const said = problems.map((problem) => problem.message).join("; ");
  const room = maxConditionMessage - said.length - 2;
  return `${cutTo(message, room)}; ${said}`;
}

/**
 * The decision with `problems` said after its verdict's message (so in the Ready, Reconciling and
 * Stalled conditions), its state, reason, phases and actions unchanged: the promotion goes on; once
 * they are gone, so is the text.
 */
export function withOlderVersionProblems(
  decision: PromotionDecision,
  problems: readonly OlderVersionProblem[],
): PromotionDecision {
  if (problems.length === 0) return decision;
  return {
    ...decision,
    verdict: { ...decision.verdict, message: withProblemsSaid(decision.verdict.message, problems) },
  };
}

/**
 * A Warning Event for each problem the previous status's Ready condition did not say yet (the status
 * of an EmbeddingModel, or of a NearlinePipeline for its workers).
 */
export function olderVersionEvents(
  previous:
    { conditions?: readonly { type: string; message?: string | undefined }[] | undefined } | undefined,
  problems: readonly OlderVersionProblem[],
): PromotionEvent[] {
  const ready = previous?.conditions?.find((condition) => condition.type === "Ready")?.message ?? "";
  return problems
    .filter((problem) => !ready.includes(problem.message))
    .map((problem) => ({ warning: true, reason: problem.reason, message: problem.message }));
}

/**
 * A Ready message without the problems withOlderVersionProblems said after the verdict's own message:
 * the trailing "; version …" parts that say a problem's consequence.
 */
export function withoutOlderVersionProblems(message: string): string {
  const parts = message.split("; version ");
  let kept = parts.length;
  while (kept > 1 && parts[kept - 1]!.includes(consequencePhrase)) kept -= 1;
  return parts.slice(0, kept).join("; version ");
}

/**
 * The Events of a reconcile that acted on `acted` and found `problems`: the promotion's own, from the
 * verdict as decided (an older version's problem appearing or going is no new wording of the
 * candidate's missing Secret, whose Warning Event would say it again), and one per new problem.
 */
export function reconcileEvents(
  previous: EmbeddingModelStatus | undefined,
  acted: PromotionDecision,
  problems: readonly OlderVersionProblem[],
): PromotionEvent[] {
  const asDecided =
    previous?.conditions === undefined
      ? previous
      : {
          ...previous,
          conditions: previous.conditions.map((condition) =>
            condition.type === "Ready"
              ? { ...condition, message: withoutOlderVersionProblems(condition.message) }
              : condition,
          ),
        };
  return promotionEvents(asDecided, acted).concat(olderVersionEvents(previous, problems));
}
