/**
 * The dashboard's buttons for a user whose Role lets them change some models of a namespace, not all
 * (RBAC `resourceNames`), against the testbed's API server: a SelfSubjectAccessReview without a name
 * answers "no" for such a Role, yet the API server accepts the patch of the named model. The page
 * offers the actions on the models the user may change and disables them, naming the permission, on
 * the others.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { waitFor } from "../../testbed/wait.ts";
import { applyWithStatus } from "../../support/crds.ts";
import {
  createRole,
  serviceAccountKubeconfig,
  serviceAccountMayOnModels,
} from "../../support/kubeconfigs.ts";
import { kubectl } from "../../support/kubectl.ts";
import {
  heldMinilm,
  judeKindsRule,
  namespaceWithPromotingModel,
  postAction,
  shownState,
  startDashboard,
} from "./dashboard-process.ts";

const namespace = `dashboard-permissions-${process.pid}`;
const folder = mkdtempSync(join(tmpdir(), "dashboard-permissions-"));
let kubeconfig = "";
let listsEvents = "";
let revoked = "";
let granted = "";
const dashboards: ChildProcess[] = [];

interface ShownState {
  models: { name: string; actions: Record<"approve" | "rollback", { refused?: string; version?: string }> }[];
}

beforeAll(async () => {
  await namespaceWithPromotingModel(namespace);
  // A second model the user may not change.
  const other = promotingModel();
  other.metadata.name = "other";
  await applyWithStatus(other, namespace, other.status);
  await createRole(namespace, "minilm-owner", [
    judeKindsRule(["get", "list", "watch"]),
    { apiGroups: [""], resources: ["events", "configmaps"], verbs: ["get", "list", "watch"] },
    // Only minilm may be changed.
    { apiGroups: ["jude.dev"], resources: ["embeddingmodels"], resourceNames: ["minilm"], verbs: ["patch"] },
  ]);
  kubeconfig = await serviceAccountKubeconfig(folder, namespace, "minilm-owner", { role: "minilm-owner" });
  // A Role that lists Events but may not watch them.
  await createRole(namespace, "lists-events", [
    judeKindsRule(["get", "list", "watch"]),
    { apiGroups: [""], resources: ["events"], verbs: ["get", "list"] },
  ]);
  // A Role that may change every model, whose RoleBinding the test deletes while the page is open.
  await createRole(namespace, "changes-models", [
    judeKindsRule(["get", "list", "watch", "patch"]),
    { apiGroups: [""], resources: ["events", "configmaps"], verbs: ["get", "list", "watch"] },
  ]);
  revoked = await serviceAccountKubeconfig(folder, namespace, "revoked", { role: "changes-models" });
  listsEvents = await serviceAccountKubeconfig(folder, namespace, "lists-events", { role: "lists-events" });
  // A Role that reads the models but may not change them; the test grants the patch while the page is open.
  await createRole(namespace, "reads-models", [
    judeKindsRule(["get", "list", "watch"]),
    { apiGroups: [""], resources: ["events", "configmaps"], verbs: ["get", "list", "watch"] },
  ]);
  granted = await serviceAccountKubeconfig(folder, namespace, "granted", { role: "reads-models" });
}, 120_000);

afterAll(async () => {
  for (const dashboard of dashboards) dashboard.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("the dashboard of a user whose Role names the models it may change (resourceNames)", () => {
  it("offers approve on the model it may patch, and the API server accepts it; disables it on the other", async () => {
    const { plugin, url } = await startDashboard(namespace, kubeconfig);
    dashboards.push(plugin);
    const read = () => shownState<ShownState>(url);
    await waitFor("the dashboard shows both models", async () => (await read()).models.length === 2, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const { models } = await read();
    const other = models.find((model) => model.name === "other");
    const minilm = models.find((model) => model.name === "minilm");
    expect(other!.actions.approve.refused).toBe(
      `access denied: minilm-owner may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)`,
    );
    expect(minilm!.actions.approve).toEqual({
      version: "minilm-v2",
      summary: "approved cutover of minilm to minilm-v2",
    });
    // What the page offers, the API server does.
    const done = await postAction(url, namespace, "minilm", "approve");
    expect(done.status).toBe(200);
    expect((await heldMinilm(namespace)).spec.promotion?.approvedVersion).toBe("minilm-v2");
  });
});

describe("the dashboard of a user who may list Events but not watch them", () => {
  it("says that it may not watch them, not that it may not list them", async () => {
    const { plugin, url } = await startDashboard(namespace, listsEvents);
    dashboards.push(plugin);
    const read = () => shownState<{ eventsProblem?: string }>(url);
    await waitFor(
      "the page says why Events are not shown",
      async () => (await read()).eventsProblem !== undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    expect((await read()).eventsProblem).toBe(
      `access denied: lists-events may not watch events in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' view role or the chart's jude-operator-view ClusterRole)`,
    );
  });
});

describe("the dashboard of a user whose right to change the models is revoked while the page is open", () => {
  it("disables the buttons, naming the permission, once an action came back 403", async () => {
    const { plugin, url } = await startDashboard(namespace, revoked);
    dashboards.push(plugin);
    const read = async () => (await shownState<ShownState>(url)).models;
    const other = async () => (await read()).find((model) => model.name === "other");
    await waitFor(
      "the page offers approve on other",
      async () => (await other())?.actions.approve.version !== undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    await kubectl(["delete", "rolebinding", "-n", namespace, "revoked"]);
    await waitFor(
      "the API server applies the revocation",
      async () => !(await serviceAccountMayOnModels(namespace, "revoked", "patch")),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const denied = await postAction(url, namespace, "other", "approve");
    expect(denied.status).toBe(403);
    await waitFor(
      "the page disables approve on other",
      async () => (await other())?.actions.approve.refused !== undefined,
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    expect((await other())!.actions.approve.refused).toBe(
      `access denied: revoked may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)`,
    );
  });
});

describe("the dashboard of a user granted the right to change the models while the page is open", () => {
  it("enables the buttons without a reload", async () => {
    const { plugin, url } = await startDashboard(namespace, granted);
    dashboards.push(plugin);
    // One open page: its event stream, never reloaded.
    const page = new AbortController();
    const stream = await fetch(`${url}api/stream`, { signal: page.signal });
    expect(stream.status).toBe(200);
    try {
      const other = async () =>
        (await shownState<ShownState>(url)).models.find((model) => model.name === "other");
      await waitFor(
        "the page disables approve on other",
        async () => (await other())?.actions.approve.refused !== undefined,
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      await kubectl([
        "create",
        "rolebinding",
        "-n",
        namespace,
        "granted-changes-models",
        "--role=changes-models",
        `--serviceaccount=${namespace}:granted`,
      ]);
      // The page re-asks every 30 s while it is open: the grant shows without a page load.
      await waitFor(
        "the page offers approve on other",
        async () => (await other())?.actions.approve.version !== undefined,
        { timeoutMs: 75_000, intervalMs: 500 },
      );
      expect((await other())!.actions.approve).toEqual({
        version: "minilm-v2",
        summary: "approved cutover of other to minilm-v2",
      });
    } finally {
      page.abort();
    }
  }, 120_000);
});
