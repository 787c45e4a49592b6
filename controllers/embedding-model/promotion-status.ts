// The EmbeddingModel status and Events from a promotion decision. Pure: every version the decision
// placed in a phase is listed with its serving figures and lifecycle times; conditions keep their
// lastTransitionTime while unchanged; an Event marks each phase change and each cutover.
import { missingReferenceReasons } from "./blockers.ts";
import type { Condition, EmbeddingModelStatus, ModelVersionStatus, VersionPhase } from "../../crds/index.ts";
import { conditionSays, kstatusConditions, setConditions } from "../shared/conditions.ts";
import { gateTypes } from "./promotion-gates.ts";
import type { PromotionDecision } from "./promotion.ts";
import type { VersionRecord } from "./version-record.ts";
import type { ServingState } from "./version-status.ts";

/** What the status is built from besides the decision. */
export interface StatusInputs {
  generation: number;
  previous: EmbeddingModelStatus | undefined;
  decision: PromotionDecision;
  specVersion: string;
  serving: Readonly<Record<string, ServingState>>;
  records: readonly VersionRecord[];
  endpoint: (version: string) => string;
  /** The model has a store (pipelines): coverage figures apply. */
  hasData: boolean;
  /** The candidate's measured freshness in seconds, when reported. */
  candidateLagSeconds?: number | undefined;
  now: Date;
}

const phaseOrder: Record<VersionPhase, number> = {
  Active: 0,
  Deploying: 1,
  Bootstrapping: 1,
  CatchingUp: 1,
  AwaitingCutover: 1,
  Failed: 1,
  Draining: 2,
  Retained: 3,
};

/** The complete status the controller owns. */
export function promotionStatus(input: StatusInputs): EmbeddingModelStatus {
  const { decision } = input;
  const records = new Map(input.records.map((record) => [record.version, record]));
  const coverage = decision.gates.find((gate) => gate.type === "CoverageMet")?.value;
  const versions: ModelVersionStatus[] = Object.entries(decision.phases)
    .sort(([a, phaseA], [b, phaseB]) => phaseOrder[phaseA] - phaseOrder[phaseB] || a.localeCompare(b))
    .map(([version, phase]) => {
      const record = records.get(version);
      const previous = input.previous?.versions?.find((entry) => entry.version === version);
      const digest = record?.spec.model.sha256 ?? previous?.modelDigest;
      const candidate = version === input.specVersion && phase !== "Active";
      return {
        version,
        phase,
        readyReplicas: input.serving[version]?.readyReplicas ?? 0,
        // Only a served version has a Service; a Retained one's was removed with its workloads.
        ...(decision.serve.includes(version) ? { endpoint: input.endpoint(version) } : {}),
        ...(digest !== undefined ? { modelDigest: digest } : {}),
        ...(phase === "Active" && input.hasData ? { coverage: 1 } : {}),
        ...(candidate && coverage !== undefined ? { coverage: Math.min(1, coverage) } : {}),
        ...(candidate && input.candidateLagSeconds !== undefined
          ? { lagSeconds: input.candidateLagSeconds }
          : {}),
        ...(record?.activatedTime !== undefined ? { activatedTime: record.activatedTime } : {}),
      };
    });
  // Never dropped nor lowered: it is what keeps the next switch above the epoch readers hold.
  const storeEpoch = maxDefined(decision.storeEpoch, input.previous?.storeEpoch);
  const conditions = setConditions(
    withoutAbandonedGates(input.previous, decision),
    [...kstatusConditions(decision.verdict), ...decision.conditions],
    input.generation,
    input.now,
  );
  return {
    observedGeneration: input.generation,
    conditions,
    ...(decision.activeVersion !== undefined ? { activeVersion: decision.activeVersion } : {}),
    versions,
    ...(storeEpoch !== undefined ? { storeEpoch } : {}),
    ...(decision.approval !== undefined ? { approval: decision.approval } : {}),
  };
}

/** Phases of a version on its way to readers, or stopped on the way. */
const candidatePhases: ReadonlySet<VersionPhase> = new Set([
  "Deploying",
  "Bootstrapping",
  "CatchingUp",
  "AwaitingCutover",
  "Failed",
]);

function candidates(phases: Readonly<Record<string, VersionPhase>>, active: string | undefined): string[] {
  return Object.entries(phases)
    .filter(([version, phase]) => version !== active && candidatePhases.has(phase))
    .map(([version]) => version);
}

/**
 * The previous conditions, without the gates of a promotion that ended without a cutover (spec.version
 * set back to the active version): they measured a version readers never got, and the decision of a
 * settled model sets no gates, so they would sit for good beside Ready=True, shut or failed. Gates
 * that led to a cutover stay: they are what the active version passed (the dashboard shows them).
 */
export function withoutAbandonedGates(
  previous: EmbeddingModelStatus | undefined,
  decision: PromotionDecision,
): Condition[] | undefined {
  const previousPhases = Object.fromEntries(
    (previous?.versions ?? []).map((entry) => [entry.version, entry.phase]),
  );
  const wasPromoting = candidates(previousPhases, previous?.activeVersion);
  const abandoned =
    wasPromoting.length > 0 &&
    wasPromoting.every((version) => decision.phases[version] !== "Active") &&
    candidates(decision.phases, decision.activeVersion).length === 0;
  if (!abandoned) return previous?.conditions;
  const set = new Set(decision.conditions.map((condition) => condition.type));
  const gates = new Set<string>(gateTypes);
  return previous?.conditions?.filter((condition) => !gates.has(condition.type) || set.has(condition.type));
}

/** An Event to record. */
export interface PromotionEvent {
  warning: boolean;
  reason: string;
  message: string;
}

/** Events for the changes from the previous status to the decision: phases and the cutover. */
export function promotionEvents(
  previous: EmbeddingModelStatus | undefined,
  decision: PromotionDecision,
): PromotionEvent[] {
  const events: PromotionEvent[] = [];
  const before = new Map((previous?.versions ?? []).map((entry) => [entry.version, entry.phase]));
  const rewound = decision.switchPointer?.restores === true ? decision.switchPointer.rewound : undefined;
  if (rewound !== undefined) {
    // Not a hand move: the store came back from an older snapshot (the epoch went below the recorded
    // one) in which the version readers used is still complete.
    const { lost, current, epoch, recorded } = rewound;
    events.push({
      warning: true,
      reason: "StoreDataLost",
      message: `the store was rewound (restored from an older snapshot: Redis restarted from an RDB file older than the last flip, or failed over to a replica behind): its pointer named version ${current} at epoch ${epoch}, below epoch ${recorded}, the highest the operator wrote; version ${lost}, the active one, is still complete in it: readers were switched back to it above epoch ${recorded}, but what was written to it since the snapshot is missing (those entities' vectors are stale or absent until their records change again)`,
    });
  } else if (decision.switchPointer?.restores === true) {
    const { expectedCurrent, target } = decision.switchPointer;
    events.push({
      warning: true,
      reason: "PointerRestored",
      message: `the store pointer ${expectedCurrent ? `named version ${expectedCurrent}` : "was gone"} while the spec and the status name version ${target} (changed outside the operator); readers switched back to ${target}`,
    });
  } else if (decision.switchPointer !== undefined) {
    const { kind, expectedCurrent, target, rewound: rewoundAgain } = decision.switchPointer;
    events.push({
      warning: false,
      // A store without a pointer (rebuilt after a loss, or the model moved to it) had no readers to
      // roll back: its first pointer is a promotion, whichever script wrote it.
      reason: kind === "rollback" && expectedCurrent !== null ? "RolledBack" : "Promoted",
      // The pointer written again on the version it names (a store rewound below what readers hold).
      message:
        expectedCurrent === target
          ? `readers switched back to ${target}: the store's pointer, rewound below the epoch readers hold, was written again above it (readers from before held ${rewoundAgain?.lost ?? previous?.activeVersion ?? "another version"}'s pointer; query Service on ${target})`
          : `readers switched from ${expectedCurrent ?? "no version"} to ${target} (store pointer ${kind}, query Service moved)`,
    });
  } else {
    const followed = readersFollowed(previous, decision);
    if (followed !== undefined) {
      const from = previous?.activeVersion ?? "no version";
      const target = decision.activeVersion!;
      const wasLeft = ["Draining", "Retained"].includes(before.get(target) ?? "");
      events.push({
        warning: false,
        reason: wasLeft ? "RolledBack" : "Promoted",
        message:
          followed === "pointer"
            ? `readers switched from ${from} to ${target} (store pointer ${wasLeft ? "rollback" : "flip"} made by an operator stopped before it reported it; query Service moved)`
            : `readers switched from ${from} to ${target} (query Service moved; no store: no NearlinePipeline names this model)`,
      });
    }
  }
  for (const [version, phase] of Object.entries(decision.phases)) {
    const was = before.get(version);
    if (was === phase) continue;
    events.push({
      warning: phase === "Failed",
      reason: phase,
      message: `version ${version}: ${was ?? "new"} -> ${phase}${phase === "Failed" ? `: ${decision.verdict.message}` : ""}`,
    });
  }
  // The kstatus verdict's own Event when it turns Ready or Stalled (what `kubectl describe` users scan).
  const verdict = decision.verdict;
  const was = previous?.conditions?.find((condition) => condition.type === verdict.state);
  // Stalled before for another cause (ReconcileError: the model was not reconciled) is a turn too.
  const said = was?.status === "True" && (verdict.state !== "Stalled" || was.reason === verdict.reason);
  if (!said && verdict.state !== "Reconciling")
    events.push({
      warning: verdict.state === "Stalled",
      reason: verdict.state === "Ready" ? "Ready" : verdict.reason,
      message: verdict.message,
    });
  // Reconciling verdicts have no Event of their own; the store losing the active version is one, and
  // so is a move to another store, and a candidate waiting for a missing Secret or claim (a Warning
  // when the cause or its wording is new: `kubectl describe` shows what to create).
  const ready = previous?.conditions?.find((condition) => condition.type === "Ready");
  if (
    verdict.state === "Reconciling" &&
    missingReferenceReasons.has(verdict.reason) &&
    !conditionSays(ready, verdict.reason, verdict.message)
  )
    events.push({ warning: true, reason: verdict.reason, message: verdict.message });
  const reconciling = previous?.conditions?.find((condition) => condition.type === "Reconciling");
  const storeEvent = verdict.reason === "StoreDataLost" || verdict.reason === "StoreChanged";
  if (storeEvent && reconciling?.reason !== verdict.reason)
    events.push({
      warning: verdict.reason === "StoreDataLost",
      reason: verdict.reason,
      message: verdict.message,
    });
  for (const version of before.keys())
    if (decision.phases[version] === undefined)
      events.push({
        warning: false,
        reason: "VersionRemoved",
        message: `version ${version} is no longer served or retained`,
      });
  return events;
}

/**
 * How readers moved to another active version without a pointer switch in this decision: "pointer"
 * when an operator killed between its switch and the status write that reports it left the pointer
 * switched (the next one follows it; readers did switch: say so once), "service" when a model without
 * a store moved its query Service alone (its readers switch as surely: without this Event a rollback
 * showed only phase changes while its RolledBack condition turned True). From no version too: a first
 * version going live is a promotion, as a store's first pointer is (but not one a model applied again
 * finds readers on).
 */
function readersFollowed(
  previous: EmbeddingModelStatus | undefined,
  decision: PromotionDecision,
): "pointer" | "service" | undefined {
  const from = previous?.activeVersion;
  const target = decision.activeVersion;
  if (target === undefined || from === target) return undefined;
  // From no version, only to one the status listed (built, then switched to): a model applied again
  // (its orphaned records adopted, no status yet) finds readers on a version no reader switched to.
  if (from === undefined && !(previous?.versions ?? []).some((entry) => entry.version === target))
    return undefined;
  // A store rewound to an older snapshot names the version it had then: no switch was made (the
  // StoreDataLost Event says what happened).
  if (decision.storeDataLost !== undefined) return undefined;
  // A target this model has no record of was not switched to by it (the store's pointer moved there
  // outside it, e.g. a rollback script onto an unrecorded backup): Ready says so, no Event claims it.
  const record = decision.records.find((entry) => entry.version === target);
  if (record === undefined) return undefined;
  return record.store !== undefined ? "pointer" : "service";
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
