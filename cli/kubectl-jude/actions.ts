// `approve` and `rollback` as pure decisions: which spec change to make, or why none can be made.
// The plugin then applies the change as a merge patch, the same change a Git commit would carry.
import type { EmbeddingModel } from "../../crds/index.ts";

/** A spec change to apply, or the reason the action is refused. */
export type Decision = { patch: Record<string, unknown>; summary: string } | { refused: string };

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
  if (model.spec.promotion?.approvedVersion === version) return { refused: `${version} is already approved` };
  return {
    patch: { promotion: { approvedVersion: version } },
    summary: `approved cutover of ${name} to ${version}`,
  };
}

const rollbackPhases = new Set(["Draining", "Retained"]);

/**
 * Rolls back to `requested`, or by default to the most recently active version that is still kept
 * (phase Draining or Retained), by setting spec.version to it.
 */
export function rollback(model: EmbeddingModel, requested?: string): Decision {
  const name = model.metadata.name;
  const active = model.status?.activeVersion;
  const kept = (model.status?.versions ?? [])
    .filter((version) => version.version !== active && rollbackPhases.has(version.phase))
    .sort((a, b) => (b.activatedTime ?? "").localeCompare(a.activatedTime ?? ""));
  const target = requested ?? kept[0]?.version;
  if (target === undefined) return { refused: `${name} has no retained version to roll back to` };
  if (target === active && target === model.spec.version) return { refused: `${target} is already active` };
  if (requested !== undefined && !kept.some((version) => version.version === requested))
    return {
      refused: `${requested} is not a retained version of ${name} (kept: ${kept.map((version) => version.version).join(", ") || "none"})`,
    };
  return {
    patch: { version: target },
    summary: `rolling ${name} back to ${target} (was ${active ?? "none"})`,
  };
}
