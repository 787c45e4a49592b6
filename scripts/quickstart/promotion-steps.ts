// The gated cutover "step by step": what changed between two observations of the EmbeddingModel —
// version phases, the promotion's conditions (with the value each carries) and the active version —
// as the lines the quickstart prints while it watches.
import { conditionLabel, conditionVerdict } from "../../cli/kubectl-jude/dashboard/view-model.ts";
import type { Condition, EmbeddingModel } from "../../crds/index.ts";

const marks = { good: "✓", bad: "✗", neutral: "•", pending: "…" } as const;
/** Outcome conditions: narrated when their status changes, not on every new message. */
const outcomes = new Set(["Promoted", "RolledBack", "Stalled"]);

/** The conditions the quickstart narrates, in the order a promotion meets them. */
export const narratedConditions = [
  "ServingReady",
  "BootstrapComplete",
  "CaughtUp",
  "CoverageMet",
  "ParityPassed",
  "Promoted",
  "RolledBack",
  "Stalled",
];

type ModelStatus = NonNullable<EmbeddingModel["status"]>;

const conditionOf = (status: ModelStatus | undefined, type: string): Condition | undefined =>
  status?.conditions?.find((condition) => condition.type === type);

/** Lines describing what changed from `before` to `after` (nothing when equal). */
export function promotionSteps(before: ModelStatus | undefined, after: ModelStatus | undefined): string[] {
  const lines: string[] = [];
  const phases = new Map((before?.versions ?? []).map((version) => [version.version, version.phase]));
  for (const version of after?.versions ?? [])
    if (phases.get(version.version) !== version.phase)
      lines.push(`version ${version.version}: ${phases.get(version.version) ?? "new"} -> ${version.phase}`);
  for (const type of narratedConditions) {
    const previous = conditionOf(before, type);
    const current = conditionOf(after, type);
    if (current === undefined) continue;
    if (previous?.status === current.status && (outcomes.has(type) || previous.message === current.message))
      continue;
    // A promotion that is not stalled is the normal case, not news.
    if (previous === undefined && type === "Stalled" && current.status === "False") continue;
    const mark = marks[conditionVerdict(type, current.status, current.reason)];
    // "✓ not Stalled" alone: its message is the Ready verdict's, which the operator writes on all three.
    const label = conditionLabel(type, current.status);
    lines.push(
      label !== type
        ? `${mark} ${label}`
        : `${mark} ${type.padEnd(17)} ${current.message ?? current.reason ?? ""}`.trimEnd(),
    );
  }
  if (after?.activeVersion !== undefined && after.activeVersion !== before?.activeVersion)
    lines.push(`active version is now ${after.activeVersion}`);
  return lines;
}
