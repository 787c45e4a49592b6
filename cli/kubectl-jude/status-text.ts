// Text rendering of `kubectl jude status`: one block per EmbeddingModel with its versions, the
// promotion gates with their measured values, pipelines and bootstrap progress bars.
import { conditionVerdict } from "./dashboard/view-model.ts";
import type {
  BootstrapView,
  GateView,
  ModelView,
  UnattachedBootstrapView,
  UnattachedPipelineView,
} from "./status-view.ts";

const barWidth = 24;
/** The narrowest bar a bootstrap row gets while it is made to fit the terminal width. */
const minBarWidth = 10;
/** The width the text is laid out for (a terminal's default). */
const lineWidth = 80;

/** A progress bar such as `[##########--------------]  42%` (`width` marks between the brackets). */
export function progressBar(percent: number | undefined, width = barWidth): string {
  if (percent === undefined) return `[${"?".repeat(width)}]    ?`;
  const clamped = Math.max(0, Math.min(100, Math.floor(percent)));
  const filled = Math.round((clamped / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(clamped).padStart(3)}%`;
}

/** Lays rows out in aligned columns. */
export function table(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
  );
}

const named: Record<string, string> = {
  "\u001b": "^[",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\u0007": "\\a",
};

/**
 * One line as a terminal should get it: the control characters a condition message (free text) may
 * carry made visible, as kubectl escapes them (ESC as ^[), so that no escape sequence reaches the
 * terminal and no newline forges a line of its own. The bidirectional embeddings, overrides and
 * isolates (U+202A-U+202E, U+2066-U+2069) are shown as \u202e too: a terminal that honours them
 * would show the rest of the line reordered ("Trojan Source"). Other text, any script, is kept.
 */
export function printable(line: string): string {
  return line.replace(
    // eslint-disable-next-line no-control-regex -- the control characters are what is matched
    /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (character) => named[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const marks = { good: "✓", bad: "✗", neutral: "•", pending: "…" } as const;
/** ✓ passed, ✗ failed, … not reached yet (a gate the operator is still waiting for, or not reported). */
const mark = (gate: GateView): string => marks[conditionVerdict(gate.type, gate.status, gate.reason)];
const optional = (value: number | undefined, digits = 0): string =>
  value === undefined ? "-" : digits > 0 ? value.toFixed(digits) : String(value);

/**
 * The whole status text for some models; `scope` (`in namespace recs`) says where none were found.
 * `unattached` are the pipelines naming a model that does not exist, listed after the models, and
 * `unattachedRuns` the bootstrap runs whose pipeline does not exist or is one of those, after them.
 */
export function renderStatus(
  models: ModelView[],
  scope?: string,
  unattached: UnattachedPipelineView[] = [],
  unattachedRuns: UnattachedBootstrapView[] = [],
): string {
  let text =
    models.length === 0
      ? `No EmbeddingModels found${scope === undefined ? "" : ` ${scope}`}.\n`
      : models.map(renderModel).join("\n");
  if (unattached.length > 0) {
    const lines = ["NearlinePipelines naming no existing EmbeddingModel:"];
    for (const pipeline of unattached)
      lines.push(
        `  ${pipeline.namespace}/${pipeline.name} (model ${pipeline.modelRef})` +
          (pipeline.message === undefined ? "" : ` not ready: ${pipeline.message}`),
      );
    text = `${text}\n${lines.map(printable).join("\n")}\n`;
  }
  if (unattachedRuns.length > 0) {
    const lines = [
      "BootstrapRuns under no EmbeddingModel (their NearlinePipeline does not exist or names none):",
    ];
    for (const run of unattachedRuns)
      lines.push(
        `  ${run.namespace}/${run.name} (pipeline ${run.pipeline}) ${run.phase}` +
          (run.message === undefined ? "" : `: ${run.message}`),
      );
    text = `${text}\n${lines.map(printable).join("\n")}\n`;
  }
  return text;
}

function renderModel(model: ModelView): string {
  const lines = [
    `EmbeddingModel ${model.namespace}/${model.name}`,
    `  version: ${model.desiredVersion}   active: ${model.activeVersion ?? "(none yet)"}   cutover: ${model.cutover}   ready: ${model.ready}`,
  ];
  // Stalled is said in words: it needs someone to act, where any other not-ready message means "wait".
  if (model.message !== "") lines.push(`  ${model.stalled ? "Stalled: " : ""}${model.message}`);
  // The operator's message names the field (spec.promotion.approvedVersion, for GitOps); a user at a
  // terminal is also told the plugin's command that sets it.
  // One it waits on while approvedVersion names it was given for an earlier build of that name
  // (Ready reason ApprovalPredatesBuild), and the plugin refuses to set the same value again.
  if (
    model.versions.some(
      (version) => version.version === model.desiredVersion && version.phase === "AwaitingCutover",
    )
  ) {
    const command = `kubectl jude approve ${model.name} ${model.desiredVersion} -n ${model.namespace}`;
    lines.push(
      model.approvedVersion === model.desiredVersion
        ? `  approved for an earlier build of ${model.desiredVersion}: remove spec.promotion.approvedVersion, wait until status.approval is gone, then: ${command}`
        : `  approve the cutover: ${command}`,
    );
  }
  if (model.versions.length > 0) {
    lines.push("  versions:");
    lines.push(
      ...table(
        [
          ["VERSION", "PHASE", "READY", "COVERAGE", "LAG(s)", "ACTIVATED"],
          ...model.versions.map((version) => [
            version.version,
            version.phase,
            optional(version.readyReplicas),
            version.coverage === undefined ? "-" : `${(version.coverage * 100).toFixed(1)}%`,
            optional(version.lagSeconds, 1),
            version.activatedTime ?? "-",
          ]),
        ],
        "    ",
      ),
    );
  }
  if (model.promoting) {
    lines.push(
      model.activeVersion === undefined
        ? `  first version ${model.desiredVersion}, gates:`
        : `  promotion ${model.activeVersion} -> ${model.desiredVersion}, gates:`,
    );
    for (const gate of model.gates)
      lines.push(`    ${mark(gate)} ${gate.type.padEnd(18)} ${gate.message}`.trimEnd());
  }
  if (model.pipelines.length > 0) {
    lines.push("  pipelines:");
    const rows = [["PIPELINE", "ENTITY", "VERSION", "LAG", "EMBEDDED", "SKIPPED", "DEAD-LETTERED"]];
    for (const pipeline of model.pipelines) {
      if (pipeline.versions.length === 0)
        rows.push([pipeline.name, pipeline.entity, "-", "-", "-", "-", "-"]);
      for (const version of pipeline.versions)
        rows.push([
          pipeline.name,
          pipeline.entity,
          version.version,
          optional(version.lag),
          optional(version.embedded),
          optional(version.skippedUnchanged),
          optional(version.deadLettered),
        ]);
    }
    lines.push(...table(rows, "    "));
    for (const pipeline of model.pipelines)
      if (pipeline.message !== undefined) lines.push(`    ${pipeline.name} not ready: ${pipeline.message}`);
    // Rare and not in any column: a loss the figures above would hide (running totals of the version).
    for (const pipeline of model.pipelines)
      for (const version of pipeline.versions) {
        const losses = [
          ...(version.sourceRecordsLost !== undefined
            ? [
                `${version.sourceRecordsLost} source record${version.sourceRecordsLost === 1 ? "" : "s"} lost to retention (never embedded)`,
              ]
            : []),
          ...(version.storeReplays !== undefined
            ? [
                `the store lost acknowledged writes: ${version.storeReplays.replays} replay${version.storeReplays.replays === 1 ? "" : "s"} read ${version.storeReplays.replayedOffsets} offset${version.storeReplays.replayedOffsets === 1 ? "" : "s"} again`,
              ]
            : []),
        ];
        if (losses.length > 0) lines.push(`    ${pipeline.name} ${version.version}: ${losses.join("; ")}`);
      }
  }
  if (model.bootstraps.length > 0) {
    lines.push("  bootstraps:");
    // The bar narrows (down to minBarWidth) so that a row fits in lineWidth columns.
    const widest = Math.max(
      ...model.bootstraps.map((run) => table([bootstrapRow(run, 0)], "    ")[0]!.length),
    );
    const width = Math.max(minBarWidth, Math.min(barWidth, lineWidth - widest));
    lines.push(
      ...table(
        model.bootstraps.map((run) => bootstrapRow(run, width)),
        "    ",
      ),
    );
    for (const run of model.bootstraps)
      if (run.message !== undefined) lines.push(`    ${run.name}: ${run.message}`);
  }
  return `${lines.map(printable).join("\n")}\n`;
}

function bootstrapRow(run: BootstrapView, barMarks: number): string[] {
  const counts =
    run.total === undefined ? optional(run.processed) : `${optional(run.processed)}/${run.total}`;
  return [run.name, run.version, run.phase, progressBar(run.percent, barMarks), counts];
}
