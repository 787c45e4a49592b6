// `approve` and `rollback` as pure decisions: which spec change to make, or why none can be made.
// The plugin then applies the change as a merge patch, the same change a Git commit would carry.
import type { EmbeddingModel } from "../../crds/index.ts";
import { servingAtVersion, type VersionRecord } from "../../controllers/embedding-model/version-record.ts";
import { gateTypes } from "./status-view.ts";

/** How to watch what the operator does next. */
const follow = (model: EmbeddingModel): string =>
  `follow it with: kubectl jude status ${model.metadata.name} -n ${model.metadata.namespace ?? "default"}`;

/**
 * A spec change to apply, or the reason the action is refused (`missingRecord`: refused only for want
 * of the operator's record of the target version; `rollbackInFlight`: a rollback without a version, or
 * to the version being rolled back to, while one is in flight, which the active version named
 * abandons). `abandons`: the candidate a rollback abandons; `warning`: what the change gives up that
 * the user may not know (said before it is made).
 */
export type Decision =
  | { patch: Record<string, unknown>; summary: string; next: string; abandons?: string; warning?: string }
  | { refused: string; missingRecord?: true; rollbackInFlight?: true };

/** Approves the manual cutover of `requested` (default: the version being promoted). */
export function approve(model: EmbeddingModel, requested?: string): Decision {
  const name = model.metadata.name;
  const desired = model.spec.version;
  const version = requested ?? desired;
  if ((model.spec.promotion?.cutover ?? "Automatic") !== "Manual")
    return {
      refused: `${name} has cutover Automatic: it switches by itself once the gates pass; nothing to approve`,
    };
  if (version !== desired)
    return {
      refused: `${version} is not the version being promoted (spec.version of ${name} is ${desired})`,
    };
  if (model.status?.activeVersion === version)
    return { refused: `${version} is already the active version of ${name}` };
  if (model.spec.promotion?.approvedVersion === version) {
    // The operator counts an approval only for the build it was given for; the same value set again
    // is no change it can see, so the way to approve this build is a removal it sees, then the value.
    const ready = model.status?.conditions?.find((condition) => condition.type === "Ready");
    if (ready?.reason === "ApprovalPredatesBuild")
      return {
        refused: `${version} is approved, but the approval was given for an earlier build of ${version} (Ready reason ApprovalPredatesBuild): remove spec.promotion.approvedVersion of ${name} (kubectl patch embeddingmodel ${name} -n ${model.metadata.namespace ?? "default"} --type=json -p '[{"op":"remove","path":"/spec/promotion/approvedVersion"}]', or in Git), wait until its status.approval is gone, then approve again`,
      };
    return { refused: `${version} is already approved` };
  }
  const passing = gateTypes.filter(
    (type) => model.status?.conditions?.find((condition) => condition.type === type)?.status === "True",
  ).length;
  const active = model.status?.activeVersion;
  // The operator lists no phase for the version readers use when it has no record of it (the model
  // deleted and applied again mid-promotion; Ready says so): once `version` is promoted, no rollback
  // can bring it back, as a rollback restores a version from its record.
  const unrecorded =
    active !== undefined &&
    model.status?.versions !== undefined &&
    !model.status.versions.some((entry) => entry.version === active);
  return {
    patch: { promotion: { approvedVersion: version } },
    summary: `approved cutover of ${name} to ${version}`,
    ...(unrecorded && {
      warning: `${active}, the version readers use, has no record in ${name} (the model was deleted and applied again): once ${version} is promoted, ${name} cannot roll back to ${active}`,
    }),
    next: `the operator switches readers to ${version} once every promotion gate passes (${passing} of ${gateTypes.length} pass now); ${follow(model)}`,
  };
}

const rollbackPhases = new Set(["Draining", "Retained"]);

/**
 * Rolls back to `requested`, or by default to the most recently active version that is still kept
 * (phase Draining or Retained), by setting spec.version to it together with the model and prompts the
 * operator recorded for it (`records`, from the version's record ConfigMap): a version is its model
 * and prompts, so a spec naming the old version with the new weights would be refused by the operator.
 * Its recorded serving settings come back too, with the spec's capacity (version-record.ts).
 *
 * While a promotion is in flight (spec.version is not the active version), the default, and `requested`
 * naming the active version, abandon it instead: the spec goes back to the active version's record, so
 * its pods do not roll and the operator removes the candidate (a version superseded mid-promotion).
 * Once the candidate is active this is the rollback above, never an abandon. A rollback in flight
 * (spec.version a retained version readers used before) is abandoned only when `requested` names the
 * active version: the same command run again (its first run waits minutes for the retained version's
 * pods and workers) must not put the spec back on the version being rolled back from, and run again
 * with that version named it is refused as already under way.
 */
export function rollback(
  model: EmbeddingModel,
  requested?: string,
  records: readonly VersionRecord[] = [],
): Decision {
  const name = model.metadata.name;
  const active = model.status?.activeVersion;
  const candidate = model.spec.version;
  if (
    active !== undefined &&
    candidate !== active &&
    (requested === undefined || requested === candidate) &&
    rollingBack(model, records)
  ) {
    const inFlight = `${name} is already rolling back to ${candidate} (${active} serves readers until ${candidate} is ready and caught up)`;
    // With no record of the active version `--to` it is refused too: say how to abandon it by hand.
    const abandoning = abandon(model, active, records);
    return {
      refused:
        "refused" in abandoning
          ? `${inFlight}; ${abandoning.refused}`
          : `${inFlight}; to abandon that rollback and stay on ${active}, run it with --to ${active}`,
      rollbackInFlight: true,
    };
  }
  if (active !== undefined && candidate !== active && (requested ?? active) === active)
    return abandon(model, active, records);
  if (active !== undefined && requested === candidate && candidate !== active)
    return {
      refused: `${candidate} is the version being promoted, not one to roll back to; to abandon its promotion, roll back without --to (or --to ${active})`,
    };
  const kept = (model.status?.versions ?? [])
    .filter((version) => version.version !== active && rollbackPhases.has(version.phase))
    .sort((a, b) => (b.activatedTime ?? "").localeCompare(a.activatedTime ?? ""));
  const target = requested ?? kept[0]?.version;
  if (target === undefined)
    return {
      refused:
        active === undefined
          ? `${name} has no active version yet (${candidate} is its first): nothing to roll back to or to abandon`
          : `${name} has no retained version to roll back to, and no promotion to abandon (${active} is active and spec.version)`,
    };
  if (target === active)
    return { refused: `${target} is already active and spec.version: no promotion to abandon` };
  if (requested !== undefined && !kept.some((version) => version.version === requested))
    return {
      refused: `${requested} is not a retained version of ${name} (kept: ${kept.map((version) => version.version).join(", ") || "none"})`,
    };
  const record = records.find((entry) => entry.version === target);
  if (record === undefined)
    return {
      refused: `the operator has no record of ${target}'s model and prompts; set spec.version, spec.model and spec.prompts of ${name} together (as the commit that introduced ${target} did)`,
      missingRecord: true,
    };
  // An approval of another version than the target was spent on the cutover readers now leave, or
  // given to a candidate this rollback supersedes. Left set, it would approve a later build under
  // that name (the version out of retention, its record gone) as soon as its gates pass: the
  // operator's gate compares names only, as a Git commit may approve the version it introduces.
  const approval = model.spec.promotion?.approvedVersion;
  const spent = approval !== undefined && approval !== target;
  const cleared = spent ? `; spec.promotion.approvedVersion (${approval}) is cleared` : "";
  return {
    patch: { ...restoring(model, record), ...(spent ? { promotion: { approvedVersion: null } } : {}) },
    summary: `rolling ${name} back to ${target} (was ${active ?? "none"})`,
    // A Draining version is still served, so readers move in the reconcile that sees the change; a
    // Retained one's pods and workers were removed and must be ready (and caught up) again first.
    next:
      kept.find((version) => version.version === target)?.phase === "Draining"
        ? `the operator switches readers back to ${target}'s retained vectors at once${cleared}; ${follow(model)}`
        : `the operator starts ${target}'s serving pods and any nearline workers again and switches readers back to its retained vectors once they are ready and caught up${cleared}; ${follow(model)}`,
  };
}

/** Abandons the promotion of spec.version: the spec back to the `active` version's record. */
function abandon(model: EmbeddingModel, active: string, records: readonly VersionRecord[]): Decision {
  const name = model.metadata.name;
  const candidate = model.spec.version;
  const record = records.find((entry) => entry.version === active);
  if (record === undefined)
    return {
      refused: `the operator has no record of ${active}'s model, prompts and serving settings (ConfigMap ${name}-${active}-record); to abandon the promotion of ${candidate}, set spec.version, spec.model, spec.prompts and spec.serving of ${name} back as they were for ${active} (a Git revert of the commits since)`,
      missingRecord: true,
    };
  // A rollback to a retained version in flight (its workers catching up): it stays retained.
  const removed = rollingBack(model, records)
    ? `the operator stops ${candidate}'s serving pods and nearline workers again; ${candidate}'s vectors stay for a later rollback`
    : `the operator removes ${candidate}'s serving pods, nearline workers, BootstrapRun and partial vectors`;
  // An approval given to the candidate goes with it: promoted again later (the same version, after
  // a fix elsewhere), it waits for a new approval instead of switching readers as soon as it is ready.
  const approved = model.spec.promotion?.approvedVersion === candidate;
  return {
    abandons: candidate,
    patch: { ...restoring(model, record), ...(approved ? { promotion: { approvedVersion: null } } : {}) },
    summary: `abandoning the promotion of ${name} to ${candidate}: spec.version back to the active ${active}, with its recorded model, prompts and serving settings`,
    next: `${active} keeps serving readers, its pods unchanged; ${removed}${approved ? `; spec.promotion.approvedVersion (${candidate}) is cleared` : ""}; ${follow(model)}`,
  };
}

/** Whether spec.version is a retained version readers used before: a rollback to it, not a new build. */
function rollingBack(model: EmbeddingModel, records: readonly VersionRecord[]): boolean {
  const built = records.find((entry) => entry.version === model.spec.version);
  return built?.activatedTime !== undefined && built.collected !== true;
}

/**
 * Whether `model` is as the abandon `decision` leaves it: spec.version back on the active version. A
 * conditional patch sent again after the API server applied it (its answer lost: etcd's "request timed
 * out" is a 500 with Retry-After) meets its own change (409); deciding again on the abandoned spec
 * would roll back further, to the previous retained version.
 */
export function abandonApplied(model: EmbeddingModel, decision: { patch: Record<string, unknown> }): boolean {
  const active = model.status?.activeVersion;
  return active !== undefined && model.spec.version === active && decision.patch.version === active;
}

/** The spec patch that names `record`'s version with its recorded model, prompts and serving settings. */
function restoring(model: EmbeddingModel, record: VersionRecord): Record<string, unknown> {
  return {
    version: record.version,
    model: replacing(model.spec.model, record.spec.model),
    prompts: replacing(model.spec.prompts, record.spec.prompts),
    // The serving settings it ran with (image, resources, batching, ...: chosen for its model), so
    // its pods do not roll into the newer version's as readers return; capacity stays the spec's.
    serving: replacing(model.spec.serving, servingAtVersion(record.spec.serving, model.spec.serving)),
  };
}

/**
 * A merge patch turning `current` into `wanted`: keys `wanted` lacks are removed (null), at every
 * depth (a merge patch merges nested objects, so a key only `current` has would otherwise stay).
 */
function replacing(current: object, wanted: object): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const currentFields = current as Record<string, unknown>;
  for (const [key, value] of Object.entries(wanted))
    patch[key] =
      isObject(value) && isObject(currentFields[key]) ? replacing(currentFields[key], value) : value;
  for (const key of Object.keys(current)) if (!(key in wanted)) patch[key] = null;
  return patch;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
