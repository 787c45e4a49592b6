// Status conditions (metav1.Condition) and the kstatus trio every JUDE resource reports: Ready,
// Reconciling and Stalled, which Flux, Argo CD and `kubectl wait` understand. lastTransitionTime
// changes only when a condition's status changes, so it tells users when something last happened.
import type { Condition } from "../../crds/index.ts";
import { headOf } from "./text.ts";

/** A condition as a decision function produces it (no times, no generation). */
export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  /** CamelCase cause, e.g. SecretNotFound. */
  reason: string;
  message: string;
}

/** RFC 3339 time with second precision, the form metav1.Time takes. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The most characters a condition's message may have: every CRD's schema refuses a longer one. */
export const maxConditionMessage = 32_768;

const cutNote = "… (cut)";

/**
 * `message` within `room` characters: cut, saying so, when longer. Never between the two halves of a
 * surrogate pair, whose lone half the API server would store as U+FFFD (a message that then never
 * reads as the one said: conditionSays).
 */
export function cutTo(message: string, room: number): string {
  if (message.length <= room) return message;
  return `${headOf(message, room - cutNote.length)}${cutNote}`;
}

/**
 * A message within maxConditionMessage: a longer one (an admission webhook's long answer, many shards'
 * words) would have the API server refuse the whole status, leaving the resource's status as it was.
 */
function capMessage(message: string): string {
  return cutTo(message, maxConditionMessage);
}

/**
 * The conditions after setting `inputs`: a condition of a new type is appended, one of an existing type
 * replaced in place; lastTransitionTime is kept when the status is unchanged. Conditions of other
 * types are kept as they are.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  const result = [...(existing ?? [])];
  for (const input of inputs) {
    const index = result.findIndex((condition) => condition.type === input.type);
    const previous = index < 0 ? undefined : result[index];
    const next: Condition = {
      ...input,
      message: capMessage(input.message),
      ...(observedGeneration === undefined ? {} : { observedGeneration }),
      lastTransitionTime:
        previous !== undefined && previous.status === input.status
          ? previous.lastTransitionTime
          : conditionTime(now),
    };
    if (index < 0) result.push(next);
    else result[index] = next;
  }
  return result;
}

/**
 * Whether a stored condition already says `reason` and `message`: the message compared as
 * setConditions stored it (cut past maxConditionMessage), so a long one is not new every reconcile.
 */
export function conditionSays(
  condition: { reason?: string | undefined; message?: string | undefined } | undefined,
  reason: string,
  message: string,
): boolean {
  return condition?.reason === reason && condition.message === capMessage(message);
}

/** The condition of a type, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/** Where a resource stands, in kstatus terms. */
export type KstatusState = "Ready" | "Reconciling" | "Stalled";

/** The verdict of a resource's decision function. */
export interface Kstatus {
  state: KstatusState;
  reason: string;
  message: string;
}

/**
 * The kstatus trio for a verdict: exactly one of Ready, Reconciling and Stalled is True (Reconciling
 * and Stalled are "abnormal-true" conditions: False when all is well). The False ones carry the
 * verdict's reason too, so `kubectl describe` says why on every line.
 */
export function kstatusConditions(verdict: Kstatus): ConditionInput[] {
  const condition = (type: KstatusState): ConditionInput => ({
    type,
    status: verdict.state === type ? "True" : "False",
    reason: verdict.reason,
    message: verdict.message,
  });
  return [condition("Ready"), condition("Reconciling"), condition("Stalled")];
}
