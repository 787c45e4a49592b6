// The dashboard page: one EventSource on /api/stream (the server pushes the whole state whenever a
// watch reports a change; EventSource reconnects by itself), and the approve / rollback buttons, each
// behind a confirmation dialog.
/* global document, window, EventSource, fetch */
import { h, renderModel, renderUnattached } from "./render.js";

const models = document.getElementById("models");
const connection = document.getElementById("connection");
const scope = document.getElementById("scope");
const dialog = document.getElementById("confirm");
const toast = document.getElementById("toast");

function showToast(text, kind = "info") {
  toast.textContent = text;
  toast.dataset.kind = kind;
  toast.hidden = false;
  window.clearTimeout(showToast.timer);
  showToast.timer = window.setTimeout(() => (toast.hidden = true), 6000);
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
function confirmAction(title, text) {
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }),
  );
}

async function onAction(model, kind, action) {
  const title =
    kind === "approve"
      ? `Approve the cutover of ${model.name}?`
      : action.abandons !== undefined
        ? `Abandon the promotion of ${model.name} to ${action.abandons}?`
        : `Roll ${model.name} back?`;
  // A warning (approving with no record of the version readers use) is read before confirming.
  const warning = action.warning !== undefined ? ` Warning: ${action.warning}.` : "";
  if (!(await confirmAction(title, `${action.summary}.${warning}`))) return;
  let response;
  try {
    response = await fetch(`/api/models/${model.namespace}/${model.name}/${kind}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      // What was confirmed: the plugin refuses if the decision on the model as it is now differs.
      body: JSON.stringify({ version: action.version, abandons: action.abandons }),
    });
  } catch {
    // The plugin is gone (stopped, or its port forward dropped): nothing was sent to the API server.
    showToast(`not sent: the dashboard's kubectl jude process did not answer; is it still running?`, "error");
    return;
  }
  // A proxy in between may answer with a page of its own rather than the plugin's JSON.
  const body = await response.json().catch(() => undefined);
  if (response.ok) showToast(body?.summary ?? `${kind} sent (HTTP ${response.status})`, "info");
  else
    showToast(`refused: ${body?.error ?? `HTTP ${response.status} ${response.statusText}`.trim()}`, "error");
}

function render(state) {
  scope.textContent = state.namespace === undefined ? "all namespaces" : `namespace ${state.namespace}`;
  const cards = state.models.map((model) => renderModel(model, onAction, state.eventsProblem));
  models.replaceChildren(
    ...(cards.length > 0 ? cards : [h("p", { class: "empty" }, "No EmbeddingModels here yet.")]),
    ...(state.unattachedPipelines.length > 0 ? [renderUnattached(state.unattachedPipelines)] : []),
  );
  document.body.dataset.generatedAt = state.generatedAt;
}

/** The plugin is reachable; says whether its watches of the API server work (else the page is stale). */
function showConnection(state) {
  if (state.apiServer === undefined) {
    connection.dataset.state = "live";
    connection.textContent = "live";
    connection.title = "";
    return;
  }
  const since = new Date(state.apiServer.since).toLocaleTimeString();
  connection.dataset.state = "stale";
  connection.textContent = `not live since ${since}: the API server watches fail (showing the last state received)`;
  connection.title = state.apiServer.message;
}

const events = new EventSource("/api/stream");
events.addEventListener("state", (message) => {
  const state = JSON.parse(message.data);
  showConnection(state);
  render(state);
});
events.addEventListener("error", () => {
  connection.dataset.state = "reconnecting";
  connection.textContent = "reconnecting…";
});
