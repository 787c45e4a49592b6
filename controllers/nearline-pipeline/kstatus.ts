// The kstatus trio (Ready, Reconciling, Stalled) from one summary of where an object stands, so every
// controller sets the three consistently: exactly one of them is True at a time.
import type { Condition } from "../../crds/index.ts";

/** A condition as a decision produces it; the runtime adds times and the observed generation. */
export type ConditionUpdate = Pick<Condition, "type" | "status" | "reason" | "message">;

/**
 * Where an object stands: done, still converging, stuck until someone changes something, or
 * deliberately paused (Suspended: none of the three is True).
 */
export interface Standing {
  state: "Ready" | "Reconciling" | "Stalled" | "Suspended";
  /** CamelCase cause, e.g. WorkersReady, RollingOut, PromptMissing. */
  reason: string;
  /** What a person needs to know; for Stalled it names the field to fix. */
  message: string;
}

/** Ready, Reconciling and Stalled for `standing`. */
export function kstatusConditions(standing: Standing): ConditionUpdate[] {
  const { state, reason, message } = standing;
  return [
    { type: "Ready", status: state === "Ready" ? "True" : "False", reason, message },
    {
      type: "Reconciling",
      status: state === "Reconciling" ? "True" : "False",
      reason: state === "Reconciling" ? reason : state,
      message: state === "Reconciling" ? message : "",
    },
    {
      type: "Stalled",
      status: state === "Stalled" ? "True" : "False",
      reason: state === "Stalled" ? reason : state,
      message: state === "Stalled" ? message : "",
    },
  ];
}
