// The verdict and domain conditions of a promotion in progress, pure: the phase of the candidate from
// its first shut gate, Stalled for a failed gate or a passed deadline (the active version keeps
// serving), and the Promoted and RolledBack conditions.
import type { VersionPhase } from "../../crds/index.ts";
import type { ConditionInput, Kstatus } from "../shared/conditions.ts";
import type { Gate } from "./promotion-gates.ts";
import type { VersionRecord } from "./version-record.ts";
import type { SeenApproval } from "./promotion.ts";

export function candidatePhase(shut: Gate | undefined): VersionPhase {
  switch (shut?.type) {
    case undefined:
      return "AwaitingCutover";
    case "ServingReady":
      return "Deploying";
    case "BootstrapComplete":
      return "Bootstrapping";
    default:
      return "CatchingUp";
  }
}

export function promotingVerdict(
  spec: string,
  current: string | null | undefined,
  shut: Gate | undefined,
  failed: Gate | undefined,
  overdue: boolean,
  deadlineSeconds: number,
  /** The deadline's window started when a gate shut after the approval wait, not with the promotion. */
  windowAfterWait = false,
): Kstatus {
  const serving = current ? `; version ${current} keeps serving` : "";
  if (failed !== undefined)
    return {
      state: "Stalled",
      reason: failed.reason,
      message: `${failed.type}: ${failed.message}${serving}`,
    };
  if (shut === undefined)
    return {
      state: "Reconciling",
      reason: "AwaitingApproval",
      message: `every gate of version ${spec} passed; cutover Manual waits until spec.promotion.approvedVersion is ${spec}${serving}`,
    };
  if (overdue)
    return {
      state: "Stalled",
      reason: "PromotionDeadlineExceeded",
      message: `version ${spec} is not promoted ${windowAfterWait ? `${deadlineSeconds}s after a gate shut while it awaited approval` : `after ${deadlineSeconds}s`}: ${shut.type}: ${shut.message}${serving}`,
    };
  return {
    state: "Reconciling",
    reason: shut.reason,
    message: `promoting ${spec}: ${shut.type}: ${shut.message}`,
  };
}

export function promotedCondition(
  promoted: boolean,
  spec: string,
  phase: string,
  message: string,
): ConditionInput {
  return promoted
    ? { type: "Promoted", status: "True", reason: "Promoted", message }
    : {
        type: "Promoted",
        status: "False",
        reason: phase,
        message: `version ${spec} is ${phase}: ${message}`,
      };
}

/**
 * The store lost the version readers were using: its vectors are gone while it was still live (never
 * deactivated). Garbage collection never takes the current version, so the store lost its data (a
 * Redis restarted without persistence, a flush, a failover to an empty replica).
 */
export function lostByStore(record: VersionRecord): boolean {
  return record.collected === true && record.activatedTime !== undefined && !deactivatedSince(record);
}

/**
 * The verdict while the store's lost active version `lost` is rebuilt, or, lost mid-promotion, while
 * `spec` is promoted: said first (Ready's reason and message), not as an ordinary promotion of `spec`
 * (reason Bootstrapping), since readers have no vectors meanwhile. A failed gate or a passed deadline
 * keeps its own Stalled verdict.
 */
export function storeDataLostVerdict(lost: string, spec: string, progress: Kstatus): Kstatus {
  if (progress.state === "Stalled") return progress;
  const until =
    lost === spec
      ? "it is rebuilt from the changelog, which the operator does now (if the store Secret now names another Redis, that one is new and the old one keeps its keys)"
      : `version ${spec}, whose promotion goes on, is switched to (the query Service stays on version ${lost}'s encoder meanwhile)`;
  return {
    state: "Reconciling",
    reason: "StoreDataLost",
    message: `the store lost version ${lost}, the active one (pointer, registry entry and vectors gone: Redis restarted without persistence, was flushed, or failed over to an empty replica); readers find no current version (those running since before get misses) until ${until}: ${progress.message}`,
  };
}

/**
 * How a store came back rewound (restored from an older snapshot: a Redis with RDB persistence only
 * restarted, or failed over to a replica behind): its pointer names `current` at `epoch`, below
 * `recorded`, the highest epoch the operator wrote or saw (status.storeEpoch), and `lost`, the version
 * readers used, lost what was written since the snapshot (its vectors, in part or whole).
 */
export interface StoreRewind {
  lost: string;
  current: string;
  epoch: number;
  recorded: number;
}

/**
 * The verdict while the store is rewound (see StoreRewind), until the switch to `spec` (a rebuild of the
 * lost version, or a candidate's cutover) writes a pointer above `recorded` again. A failed gate or a
 * passed deadline keeps its own Stalled verdict.
 */
export function storeRewoundVerdict(rewind: StoreRewind, spec: string, progress: Kstatus): Kstatus {
  if (progress.state === "Stalled") return progress;
  const { lost, current, epoch, recorded } = rewind;
  const until =
    lost === spec
      ? `version ${lost} is rebuilt from the changelog, which the operator does now, and switched to above epoch ${recorded}`
      : `version ${spec}, whose promotion goes on, is switched to above epoch ${recorded}`;
  return {
    state: "Reconciling",
    reason: "StoreDataLost",
    message: `the store was rewound (restored from an older snapshot: Redis restarted from an RDB file older than the last flip, or failed over to a replica behind): its pointer names version ${current} at epoch ${epoch}, below epoch ${recorded}, the highest the operator wrote; version ${lost}, the active one, lost what was written since (registry entry and vectors, in part or whole); readers opened since read version ${current}'s vectors (the query Service encodes with ${current} meanwhile), readers running since before keep version ${lost}'s pointer (they ignore a lower epoch) and get misses, until ${until}: ${progress.message}`,
  };
}

/**
 * The verdict while every gate passed and spec.promotion.approvedVersion names `spec`, but the approval
 * was given for another build of that name (`approval.build`, since superseded or collected) than this
 * one (started `buildStart`), and counts for none after (promotion.ts seenApproval). The way out is to
 * approve again, which the operator must see as a change.
 */
export function approvalPredatesBuildVerdict(
  spec: string,
  current: string | null | undefined,
  approval: SeenApproval,
  buildStart: string,
): Kstatus {
  const serving = current ? `; version ${current} keeps serving` : "";
  return {
    state: "Reconciling",
    reason: "ApprovalPredatesBuild",
    message: `every gate of version ${spec} passed, but spec.promotion.approvedVersion ${spec} was given (${approval.observedTime}) for the build of ${spec} that started ${approval.build ?? "earlier"}, not this one (started ${buildStart}), and cutover Manual waits for an approval of this build; to approve it, remove spec.promotion.approvedVersion, wait until status.approval is gone, and set it to ${spec} again${serving}`,
  };
}

/**
 * The verdict while the version readers use (`hasStore`: the store's pointer names `active`; without a
 * store, status.activeVersion) has no record in this model (it was deleted and applied again, its
 * records with it, took another model's store over, or its record ConfigMap was deleted by hand): no
 * record says which model file and prompts serve it, so it is not served, its query Service selects
 * no pods and no workers write its vectors until `spec` is promoted. Said first, whatever the
 * promotion's own state: the spec's promotion is the way out, and its message follows. Said before the
 * approval too: without a record `active` is no rollback target of this model once `spec` is promoted.
 */
export function unrecordedActiveVerdict(
  active: string,
  spec: string,
  progress: Kstatus,
  hasStore: boolean,
): Kstatus {
  const what = hasStore
    ? `version ${active}, the one readers use (the store's pointer), has no record in this EmbeddingModel (deleted and applied again, or another model's store taken over): it is not served (the query Service selects no pods) and no nearline workers update its vectors until ${spec} is promoted; once ${spec} is promoted this model cannot roll back to ${active} (no record): spec.version set back to ${active} builds it again with a bootstrap; its vectors stay only as the store's backup until the next switch`
    : `version ${active}, the active one (status.activeVersion), has no record in this EmbeddingModel (its record ConfigMap deleted, or the model deleted and applied again): it is not served (the query Service selects no pods) until ${spec} is promoted`;
  return { ...progress, message: `${what}: ${progress.message}` };
}

/**
 * The verdict while the pipelines' new store (`move.to`) has no current version: `move.version`, the one
 * readers used, is in `move.from`, which the operator no longer touches (its keys stay until someone
 * deletes them), and `spec` is built into the new store. Not a loss: readers of the old store keep
 * their vectors, and the query Service keeps their encoder until the new store's first flip.
 */
export function storeChangedVerdict(
  spec: string,
  move: { version: string; from: string; to: string; stalePointer?: string | undefined },
  progress: Kstatus,
): Kstatus {
  if (progress.state === "Stalled") return progress;
  const target =
    move.stalePointer !== undefined
      ? `which still names version ${move.stalePointer} as it did when the pipelines left it (not updated since, so not flipped back to)`
      : "which has no current version yet";
  return {
    state: "Reconciling",
    reason: "StoreChanged",
    message: `the pipelines now write to store ${move.to}, ${target}; version ${move.version}, the one readers used, is in store ${move.from}, left as it is (readers still on it keep reading ${move.version} there and the query Service stays on ${move.version} until ${move.to} has a current version; the operator no longer flips or collects ${move.from}: delete its keys once no reader uses it); building ${spec} into ${move.to}: ${progress.message}`,
  };
}

/**
 * `inFlight`: `spec` is the candidate of a promotion under way, not the active version: a new build,
 * or a rollback to retained vectors readers used before, which catches up before they return to it.
 */
export function rolledBackCondition(
  record: VersionRecord,
  spec: string,
  rolledBack = false,
  inFlight?: "build" | "rollback",
): ConditionInput {
  if (lostByStore(record))
    return {
      type: "RolledBack",
      status: "False",
      reason: "StoreDataLost",
      message: `the store has lost version ${spec}, the active one (no pointer to it and no vectors: Redis restarted without persistence, or was flushed); readers find no current version until it is rebuilt from scratch`,
    };
  if (record.collected === true)
    return {
      type: "RolledBack",
      status: "False",
      reason: "VectorsCollected",
      message: `version ${spec} was retained once but its vectors were garbage-collected: it is promoted from scratch`,
    };
  if (rolledBack)
    return {
      type: "RolledBack",
      status: "True",
      reason: "RolledBack",
      message: `rolled back to retained version ${spec}`,
    };
  if (inFlight === "rollback")
    return {
      type: "RolledBack",
      status: "False",
      reason: "RollingBack",
      message: `rolling back to retained version ${spec}: readers return to it once its workers caught up`,
    };
  return {
    type: "RolledBack",
    status: "False",
    reason: "NotRolledBack",
    message:
      inFlight === "build"
        ? `version ${spec} is promoted as a new build, not rolled back to`
        : `version ${spec} was promoted, not rolled back to`,
  };
}

/** Whether the version was deactivated after it was last activated. */
function deactivatedSince(record: VersionRecord): boolean {
  return (
    record.deactivatedTime !== undefined &&
    record.activatedTime !== undefined &&
    Date.parse(record.deactivatedTime) >= Date.parse(record.activatedTime)
  );
}
