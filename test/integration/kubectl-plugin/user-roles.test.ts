/**
 * `kubectl jude` as the people the chart's `userRoles` are for, against the testbed's API server: the
 * chart's ClusterRoles (rendered by `helm template`, applied as a release would) aggregate into
 * Kubernetes' built-in `view` and `edit`, and two service accounts bound to those in one namespace run
 * every command. A viewer reads (status, the dashboard's page and state) and is refused every change
 * with the permission it lacks, exit 1, nothing written; an editor approves and rolls back (abandons
 * the promotion), from the command line and from the dashboard. The dashboard disables a viewer's
 * buttons up front (a SelfSubjectAccessReview), naming the permission and the role, while the server
 * still refuses; the chart's view ClusterRole bound alone shows the timeline's Events; a Role without
 * Events gets a timeline that says so, in a real browser too.
 */
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { desiredVersionRecord, recordedSpec } from "../../../controllers/embedding-model/version-record.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { waitFor } from "../../testbed/wait.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { helm } from "../../support/helm.ts";
import { requireEnv } from "../../support/env.ts";
import {
  createRole,
  serviceAccountKubeconfig,
  serviceAccountMayOnModels,
  testbedAdmin,
  writeKubeconfig,
} from "../../support/kubeconfigs.ts";
import { kubectl } from "../../support/kubectl.ts";
import {
  createBootstrapStartedEvent,
  heldMinilm,
  judeKindsRule,
  postAction,
  shownState,
  startDashboard,
} from "./dashboard-process.ts";

const execFileAsync = promisify(execFile);
const namespace = `user-roles-${process.pid}`;
const release = `user-roles-${process.pid}`;
const folder = mkdtempSync(join(tmpdir(), "user-roles-"));
const kubeconfigs: Record<"viewer" | "editor" | "chartViewer" | "judeReader", string> = {
  viewer: "",
  editor: "",
  chartViewer: "",
  judeReader: "",
};
const dashboards: ChildProcess[] = [];

/** Runs the plugin as `user`; resolves its exit code and output. */
async function plugin(user: keyof typeof kubeconfigs, args: string[]) {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [join(repoRoot, "cli/kubectl-jude.ts"), ...args, "--kubeconfig", kubeconfigs[user]],
      { cwd: repoRoot },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

const liveModel = () => heldMinilm(namespace);

/** A service account bound (RoleBinding) to the built-in ClusterRole `role`, and a kubeconfig for it. */
const user = (name: string, role: string): Promise<string> =>
  serviceAccountKubeconfig(folder, namespace, name, { clusterRole: role });

beforeAll(async () => {
  await installCrds("user-roles-test");
  const roles = await helm([
    "template",
    release,
    join(repoRoot, "charts/jude-operator"),
    "--kube-version",
    "1.34.0",
    "--show-only",
    "templates/user-roles.yaml",
  ]);
  await kubectl(["apply", "-f", "-"], roles);
  await kubectl(["create", "namespace", namespace]);
  for (const object of [promotingModel(), jobsPipeline(), bootstrapOfV2()])
    await applyWithStatus(object, namespace, object.status);
  // The operator's record of the active minilm-v1, owned by the live model: what an abandon writes back.
  const fixture = promotingModel();
  const record = desiredVersionRecord(fixture, {
    version: "minilm-v1",
    spec: { ...recordedSpec(fixture), prompts: { job: "Job v1: {{title}}" } },
    promotionStartTime: "2026-11-30T00:00:00Z",
    activatedTime: "2026-12-01T10:00:00Z",
  });
  const uid = (await liveModel()).metadata.uid!;
  await kubectl(
    ["create", "-n", namespace, "-f", "-"],
    JSON.stringify({
      ...record,
      metadata: {
        ...record.metadata,
        namespace,
        ownerReferences: [
          { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: "minilm", uid, controller: true },
        ],
      },
    }),
  );
  // An Event on the model, as the operator's event recorder writes them, for the dashboard's timeline.
  await createBootstrapStartedEvent(namespace);
  kubeconfigs.viewer = await user("viewer", "view");
  kubeconfigs.editor = await user("editor", "edit");
  // The chart's view ClusterRole bound directly, not through Kubernetes' view.
  kubeconfigs.chartViewer = await user("chart-viewer", `${release}-jude-operator-view`);
  // A Role that reads the JUDE kinds and nothing else: no Events, no ConfigMaps.
  await createRole(namespace, "jude-reader", [judeKindsRule(["get", "list", "watch"])]);
  kubeconfigs.judeReader = await serviceAccountKubeconfig(folder, namespace, "jude-reader", {
    role: "jude-reader",
  });
  // The aggregation controller adds the chart's rules to view and edit shortly after they exist.
  const can = (verb: string, account: string) => serviceAccountMayOnModels(namespace, account, verb);
  await waitFor(
    "the chart's roles aggregated",
    async () => (await can("list", "viewer")) && can("patch", "editor"),
    {
      timeoutMs: 30_000,
      intervalMs: 250,
    },
  );
}, 120_000);

afterAll(async () => {
  for (const dashboard of dashboards) dashboard.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  await kubectl([
    "delete",
    "clusterrole",
    `${release}-jude-operator-view`,
    `${release}-jude-operator-edit`,
  ]).catch(() => undefined);
});

const post = (url: string, action: string, body: Record<string, unknown>) =>
  postAction(url, namespace, "minilm", action, body);

describe("a user bound to the built-in view role", () => {
  it("reads status, as text and as JSON", async () => {
    const text = await plugin("viewer", ["status"]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`EmbeddingModel ${namespace}/minilm`);
    expect(text.stdout).toContain("jobs-minilm");
    const json = await plugin("viewer", ["status", "minilm", "-o", "json"]);
    expect(json.code).toBe(0);
    const document = JSON.parse(json.stdout) as {
      models: { name: string; pipelines: unknown[]; bootstraps: unknown[] }[];
    };
    expect(document.models.map((model) => model.name)).toEqual(["minilm"]);
    expect(document.models[0]!.pipelines).toHaveLength(1);
    expect(document.models[0]!.bootstraps).toHaveLength(1);
  });

  it("is refused approve and rollback with the permission it lacks, and nothing is written", async () => {
    const before = await liveModel();
    const approve = await plugin("viewer", ["approve", "minilm"]);
    expect(approve).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `kubectl jude: access denied: viewer may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)\n`,
    });
    const rollback = await plugin("viewer", ["rollback", "minilm"]);
    expect(rollback).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `kubectl jude: access denied: viewer may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)\n`,
    });
    const after = await liveModel();
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("sees the dashboard live, and its buttons come back 403 naming the identity and permission", async () => {
    const { plugin: process, url } = await startDashboard(namespace, kubeconfigs.viewer);
    dashboards.push(process);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const state = () => shownState<{ apiServer?: unknown; models: { name: string }[] }>(url);
    await waitFor("the viewer's dashboard shows minilm", async () => (await state()).models.length === 1, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect((await state()).apiServer).toBeUndefined();
    const before = await liveModel();
    for (const [action, body] of [
      ["approve", {}],
      ["rollback", { abandons: "minilm-v2" }],
    ] as const) {
      const denied = await post(url, action, body);
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { error: string }).error).toContain(
        `User "system:serviceaccount:${namespace}:viewer" cannot patch resource "embeddingmodels"`,
      );
    }
    expect((await liveModel()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});

interface ShownState {
  eventsProblem?: string;
  models: {
    name: string;
    timeline: { source: string; message: string }[];
    actions: Record<"approve" | "rollback", { refused?: string; version?: string }>;
  }[];
}

/** The viewer's dashboard state once it shows minilm (and, with `until`, once that holds too). */
async function dashboardState(
  who: keyof typeof kubeconfigs,
  until: (state: ShownState) => boolean = () => true,
): Promise<{ url: string; state: ShownState }> {
  const { plugin: process, url } = await startDashboard(namespace, kubeconfigs[who]);
  dashboards.push(process);
  const read = () => shownState<ShownState>(url);
  await waitFor(
    `${who}'s dashboard shows minilm`,
    async () => {
      const state = await read();
      return state.models.length === 1 && until(state);
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  return { url, state: await read() };
}

const patchDenied = (who: string) =>
  `access denied: ${who} may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)`;

describe("the dashboard of a user who may not change the models", () => {
  it("disables approve and rollback up front, naming the permission and the role, and the server still refuses", async () => {
    const { url, state } = await dashboardState("viewer");
    expect(state.models[0]!.actions).toEqual({
      approve: { refused: patchDenied("viewer") },
      rollback: { refused: patchDenied("viewer") },
    });
    const before = await liveModel();
    const denied = await post(url, "approve", {});
    expect(denied.status).toBe(403);
    expect((await liveModel()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("shows the timeline's Events to a user bound to the chart's view ClusterRole directly", async () => {
    const { state } = await dashboardState("chartViewer", (shown) => shown.models[0]!.timeline.length > 0);
    expect(state.eventsProblem).toBeUndefined();
    expect(state.models[0]!.timeline).toContainEqual(
      expect.objectContaining({ source: "event", message: "created BootstrapRun jobs-minilm-v2" }),
    );
    expect(state.models[0]!.actions.approve).toEqual({ refused: patchDenied("chart-viewer") });
  });

  it("says on the page that Events cannot be read, by whom and which role grants them", async () => {
    const { url, state } = await dashboardState("judeReader", (shown) => shown.eventsProblem !== undefined);
    const eventsDenied = `access denied: jude-reader may not list events in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' view role or the chart's jude-operator-view ClusterRole)`;
    expect(state.eventsProblem).toBe(eventsDenied);
    // In a real browser: the timeline says what it lacks; the buttons are disabled and say why.
    const browser = await chromium.launch({
      executablePath: requireEnv("JUDE_CHROMIUM"),
      args: ["--no-sandbox"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(url);
      const card = page.locator(`[data-model="${namespace}/minilm"]`);
      await card.waitFor();
      await expect(card.locator('[data-panel-problem="events"]').textContent()).resolves.toBe(
        `Events are not shown: ${eventsDenied}`,
      );
      for (const action of ["approve", "rollback"]) {
        const button = card.locator(`[data-action=${action}]`);
        await expect(button.isDisabled()).resolves.toBe(true);
        await expect(button.getAttribute("title")).resolves.toBe(patchDenied("jude-reader"));
      }
    } finally {
      await browser.close();
    }
  });
});

describe("a kubeconfig user impersonating another (`as`, `as-groups`), as kubectl does", () => {
  /** The testbed admin's kubeconfig, its user given `impersonation` fields. */
  async function impersonating(file: string, impersonation: Record<string, unknown>): Promise<string> {
    const { user: admin } = await testbedAdmin();
    return writeKubeconfig(join(folder, file), "admin", { ...admin, ...impersonation }, namespace);
  }

  it("names the identity it acts as when refused, not the kubeconfig's user", async () => {
    kubeconfigs.viewer = await impersonating("as-viewer", {
      as: `system:serviceaccount:${namespace}:viewer`,
    });
    const before = await liveModel();
    expect(await plugin("viewer", ["approve", "minilm"])).toMatchObject({
      code: 1,
      stderr: `kubectl jude: access denied: admin (acting as system:serviceaccount:${namespace}:viewer) may not patch embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)\n`,
    });
    expect((await liveModel()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("refuses groups, a uid or extra fields it cannot send rather than acting as someone else", async () => {
    // kubectl may approve as jane in the group bound to edit; the plugin, sending only
    // Impersonate-User, would ask as jane alone and read "admin may not get".
    await kubectl([
      "create",
      "rolebinding",
      "-n",
      namespace,
      "editors-group",
      "--clusterrole=edit",
      "--group=user-roles-editors",
    ]);
    kubeconfigs.viewer = await impersonating("as-groups", {
      as: "jane",
      "as-groups": ["user-roles-editors"],
    });
    const before = await liveModel();
    expect(await plugin("viewer", ["approve", "minilm"])).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `kubectl jude: user "admin" of the kubeconfig ${kubeconfigs.viewer} impersonates with as-groups, which kubectl jude cannot send (it sends only \`as\`): use a context whose user has the rights itself\n`,
    });
    expect((await liveModel()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});

describe("a user bound to the built-in edit role", () => {
  it("approves from the command line", async () => {
    const approve = await plugin("editor", ["approve", "minilm"]);
    expect(approve.stderr).toBe("");
    expect(approve.code).toBe(0);
    expect((await liveModel()).spec.promotion?.approvedVersion).toBe("minilm-v2");
  });

  it("abandons the promotion from the dashboard with the active version's record", async () => {
    const { plugin: process, url } = await startDashboard(namespace, kubeconfigs.editor);
    dashboards.push(process);
    const done = await post(url, "rollback", { abandons: "minilm-v2" });
    expect(done.status).toBe(200);
    const model = await liveModel();
    expect(model.spec.version).toBe("minilm-v1");
    expect(model.spec.prompts).toEqual({ job: "Job v1: {{title}}" });
  });

  it("rolls back from the command line", async () => {
    // Back to v2 by hand, then the command line abandons it again.
    await kubectl([
      "patch",
      "-n",
      namespace,
      "embeddingmodel/minilm",
      "--type=merge",
      "-p",
      '{"spec":{"version":"minilm-v2"}}',
    ]);
    const rollback = await plugin("editor", ["rollback", "minilm"]);
    expect(rollback.stderr).toBe("");
    expect(rollback.code).toBe(0);
    expect((await liveModel()).spec.version).toBe("minilm-v1");
  });
});
