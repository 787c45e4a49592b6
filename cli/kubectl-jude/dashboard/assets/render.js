// Renders the dashboard state (computed by the server's view model) into DOM nodes. Text is always set
// through textContent, never parsed as HTML, so object names and messages cannot inject markup.
/* global document */

/** Creates an element with attributes (data-*, class, …) and children (nodes or text). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes))
    if (value !== undefined && value !== false)
      element.setAttribute(name, value === true ? "" : String(value));
  for (const child of children.flat())
    if (child !== undefined && child !== null)
      element.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  return element;
}

const dash = "–";
const number = (value) => (value === undefined ? dash : value.toLocaleString("en-US"));
const fixed = (value, digits) => (value === undefined ? dash : value.toFixed(digits));
const percent = (value) => (value === undefined ? dash : `${(value * 100).toFixed(1)}%`);
const ratio = (part, whole) => (part === undefined || !whole ? undefined : part / whole);
const marks = { good: "✓", bad: "✗", neutral: "•", pending: "…" };

/** "2026-12-01 10:00:00" in the browser's time zone, or a dash. */
export function when(iso) {
  if (iso === undefined) return dash;
  const date = new Date(iso);
  const pad = (value) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function table(headings, rows, attributes = {}) {
  return h(
    "table",
    attributes,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headings.map((heading) => h("th", {}, heading)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

const cell = (value, numeric = false) => h("td", numeric ? { class: "num" } : {}, value);

function versionsSection(model) {
  const rows = model.versions.map((version) =>
    h(
      "tr",
      { "data-version": version.version, "data-phase": version.phase },
      cell(version.version),
      cell(h("span", { class: "phase", "data-phase": version.phase }, version.phase)),
      cell(number(version.readyReplicas), true),
      cell(percent(version.coverage), true),
      cell(fixed(version.lagSeconds, 1), true),
      cell(when(version.activatedTime)),
    ),
  );
  return h(
    "section",
    { class: "versions" },
    h("h3", {}, "Versions"),
    rows.length === 0
      ? h("p", { class: "muted" }, "No version reported yet.")
      : table(["version", "phase", "ready", "coverage", "lag (s)", "activated"], rows),
  );
}

function gatesSection(model) {
  // No version active yet (a new model): its first version goes through the gates, from nothing.
  const title = !model.promoting
    ? "Promotion"
    : model.activeVersion === undefined
      ? `First version ${model.desiredVersion}`
      : `Promotion ${model.activeVersion} → ${model.desiredVersion}`;
  return h(
    "section",
    { class: "promotion" },
    h("h3", {}, title),
    h(
      "ul",
      { class: "gates" },
      model.conditions.map((condition) =>
        h(
          "li",
          {
            "data-gate": condition.type,
            "data-status": condition.status,
            title: when(condition.lastTransitionTime),
          },
          h("span", { class: "mark", "data-verdict": condition.verdict }, marks[condition.verdict]),
          h("b", {}, condition.label),
          h("span", { class: "value" }, condition.detail),
        ),
      ),
    ),
  );
}

function pipelinesSection(model) {
  const rows = model.pipelines.flatMap((pipeline) =>
    // A pipeline with no version reports (a stalled one runs no workers) still gets its row.
    (pipeline.versions.length > 0 ? pipeline.versions : [{ version: dash }]).map((version) =>
      h(
        "tr",
        {
          "data-pipeline": pipeline.name,
          "data-version": version.version === dash ? undefined : version.version,
          "data-ready": pipeline.ready,
        },
        cell(pipeline.name),
        cell(pipeline.entity),
        cell(version.version),
        cell(number(version.lag), true),
        cell(version.throughput === undefined ? dash : `${version.throughput.toFixed(1)}/s`, true),
        cell(number(version.embedded), true),
        cell(number(version.skippedUnchanged), true),
        cell(percent(ratio(version.skippedUnchanged, version.processed)), true),
        cell(number(version.deadLettered), true),
        cell(version.freshnessP95Ms === undefined ? dash : `${Math.round(version.freshnessP95Ms)} ms`, true),
      ),
    ),
  );
  return h(
    "section",
    { class: "pipelines" },
    h("h3", {}, "Nearline pipelines"),
    rows.length === 0
      ? h("p", { class: "muted" }, "No NearlinePipelines for this model.")
      : table(
          [
            "pipeline",
            "entity",
            "version",
            "lag",
            "throughput",
            "embedded",
            "skipped",
            "skip ratio",
            "dead-lettered",
            "fresh p95",
          ],
          rows,
        ),
    // Why a pipeline is not Ready (a Stalled one names the field to fix): its row alone has no figures.
    model.pipelines
      .filter((pipeline) => pipeline.message !== undefined)
      .map((pipeline) =>
        h(
          "p",
          { class: "message", "data-pipeline-message": pipeline.name },
          `${pipeline.name} not ready: ${pipeline.message}`,
        ),
      ),
  );
}

function bootstrapsSection(model) {
  const rows = model.bootstraps.map((run) =>
    h(
      "tr",
      { "data-bootstrap": run.name, "data-phase": run.phase },
      cell(run.name),
      cell(run.version),
      cell(run.phase),
      cell(
        h(
          "span",
          { class: "bar", title: `${run.percent ?? 0}%` },
          h("span", { "data-width": run.percent ?? 0 }),
        ),
      ),
      cell(run.percent === undefined ? dash : `${run.percent}%`, true),
      cell(
        run.total === undefined ? number(run.processed) : `${number(run.processed)} / ${number(run.total)}`,
        true,
      ),
      cell(number(run.embedded), true),
      cell(number(run.deduplicated), true),
    ),
  );
  return h(
    "section",
    { class: "bootstraps" },
    h("h3", {}, "Bootstrap runs"),
    rows.length === 0
      ? h("p", { class: "muted" }, "No bootstrap runs.")
      : table(["run", "version", "phase", "progress", "", "records", "embedded", "deduplicated"], rows),
    // Why a run does not progress (pods refused or unschedulable, waiting, failed): its bar alone hides it.
    model.bootstraps
      .filter((run) => run.message !== undefined)
      .map((run) =>
        h("p", { class: "message", "data-bootstrap-message": run.name }, `${run.name}: ${run.message}`),
      ),
  );
}

function timelineSection(model, eventsProblem) {
  return h(
    "section",
    { class: "history" },
    h("h3", {}, "Timeline"),
    // Events the user may not read: the timeline holds condition transitions only, and says why.
    eventsProblem === undefined
      ? undefined
      : h(
          "p",
          { class: "message", "data-panel-problem": "events" },
          `Events are not shown: ${eventsProblem}`,
        ),
    model.timeline.length === 0
      ? h("p", { class: "muted" }, "Nothing happened yet.")
      : h(
          "ol",
          { class: "timeline" },
          model.timeline.map((entry) =>
            h(
              "li",
              { "data-source": entry.source },
              h("time", { datetime: entry.time }, when(entry.time)),
              h(
                "span",
                { "data-verdict": entry.verdict },
                `${entry.title} ${entry.source === "condition" ? entry.status : ""}`,
              ),
              // A condition is dated by its last transition, but the operator rewrites its message in
              // place (a pod's progress, a bootstrap's percent): the message is the one it reads now.
              h(
                "span",
                {},
                `${entry.object}${entry.source === "condition" ? ", now" : ""}: ${entry.message || entry.reason || dash}${entry.count ? ` (×${entry.count})` : ""}`,
              ),
            ),
          ),
        ),
  );
}

function actionButton(model, kind, label, onAction) {
  const action = model.actions[kind];
  // Whether the user may do it is being asked (the review has not answered yet): disabled meanwhile,
  // rather than enabled and then perhaps disabled under the pointer.
  const checking = !("refused" in action) && model.permissionChecking !== undefined;
  const button = h(
    "button",
    {
      class: kind === "approve" ? undefined : "secondary",
      "data-action": kind,
      disabled: "refused" in action || checking,
      // Enabled, but whether the user may do it could not be checked: the tooltip says so.
      title:
        "refused" in action
          ? action.refused
          : checking
            ? `checking permission… ${model.permissionChecking}`
            : model.permissionNote === undefined
              ? action.summary
              : `${action.summary}. Note: ${model.permissionNote}`,
    },
    "refused" in action
      ? label
      : action.abandons !== undefined
        ? `Abandon ${action.abandons}`
        : `${label}${kind === "rollback" ? " to" : ""} ${action.version}`,
  );
  if (!("refused" in action) && !checking)
    button.addEventListener("click", () => onAction(model, kind, action));
  return button;
}

/** One card per EmbeddingModel (`eventsProblem`: why its timeline has no Events). */
export function renderModel(model, onAction, eventsProblem) {
  const card = h(
    "article",
    { class: "model", "data-model": `${model.namespace}/${model.name}` },
    h(
      "header",
      {},
      h("h2", {}, `${model.namespace}/${model.name}`),
      h(
        "div",
        { class: "facts" },
        h("span", {}, "spec.version ", h("b", { "data-field": "desired" }, model.desiredVersion)),
        h("span", {}, "active ", h("b", { "data-field": "active" }, model.activeVersion ?? "(none yet)")),
        h("span", {}, "cutover ", h("b", {}, model.cutover)),
        h("span", {}, "ready ", h("b", {}, model.ready)),
      ),
      h(
        "div",
        { class: "actions" },
        actionButton(model, "approve", "Approve", onAction),
        actionButton(model, "rollback", "Roll back", onAction),
        model.permissionChecking === undefined
          ? undefined
          : h(
              "span",
              {
                class: "permission-note",
                "data-field": "permission-checking",
                title: model.permissionChecking,
              },
              "checking permission…",
            ),
        model.permissionNote === undefined
          ? undefined
          : h(
              "span",
              { class: "permission-note", "data-field": "permission-note", title: model.permissionNote },
              "permission not checked",
            ),
      ),
    ),
    model.message ? h("p", { class: "message" }, model.message) : undefined,
    h("div", { class: "grid" }, versionsSection(model), gatesSection(model)),
    pipelinesSection(model),
    bootstrapsSection(model),
    timelineSection(model, eventsProblem),
  );
  // Widths through the CSSOM: the page's policy forbids inline style attributes.
  for (const bar of card.querySelectorAll("[data-width]"))
    bar.style.width = `${bar.getAttribute("data-width")}%`;
  return card;
}

/**
 * The NearlinePipelines whose spec.modelRef names no EmbeddingModel (a typo, a model deleted): on no
 * model's card, so listed after them with why they are not ready, as `kubectl jude status` lists them.
 */
export function renderUnattached(pipelines) {
  const key = (pipeline) => `${pipeline.namespace}/${pipeline.name}`;
  return h(
    "article",
    { class: "model unattached" },
    h("header", {}, h("h2", {}, "NearlinePipelines naming no existing EmbeddingModel")),
    table(
      ["pipeline", "model", "entity", "ready"],
      pipelines.map((pipeline) =>
        h(
          "tr",
          { "data-unattached-pipeline": key(pipeline), "data-ready": pipeline.ready },
          cell(key(pipeline)),
          cell(pipeline.modelRef),
          cell(pipeline.entity),
          cell(pipeline.ready),
        ),
      ),
    ),
    pipelines
      .filter((pipeline) => pipeline.message !== undefined)
      .map((pipeline) =>
        h(
          "p",
          { class: "message", "data-unattached-message": key(pipeline) },
          `${key(pipeline)} (model ${pipeline.modelRef}) not ready: ${pipeline.message}`,
        ),
      ),
  );
}
