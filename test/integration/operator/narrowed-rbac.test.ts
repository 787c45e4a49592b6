// An operator whose RBAC a user narrowed: in one of its two namespaces its Role lacks `patch` on
// Deployments (the chart's rules otherwise), against the testbed's real API server with the controllers
// in-process. The other namespace is reconciled as usual; the model in the narrowed one turns Stalled
// with reason ReconcileError and a message naming the refused verb and resource, instead of the
// operator crashing or stalling silently. And an operator whose Role loses list and watch on
// Deployments while it runs: its Deployments' cache can no longer follow the cluster, and once the
// informer has been silent for --watch-stale-seconds /readyz fails naming the API server's refusal.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { serverPort } from "../../../operator/runtime/health-server.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  type Json,
  listObjects,
  startInProcessOperator,
} from "./operator-harness.ts";

const full = `narrowed-full-${process.pid}`;
const narrowed = `narrowed-nopatch-${process.pid}`;
const role = `jude-narrowed-test-${process.pid}`;

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The chart's controller rules (charts/jude-operator/templates/rbac.yaml). */
function chartRules(): Rule[] {
  const template = readFileSync(
    join(import.meta.dirname, "../../../charts/jude-operator/templates/rbac.yaml"),
    "utf8",
  );
  const body = /\{\{- define "jude-operator\.rules" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(template)![1]!;
  return parse(body) as Rule[];
}

/** The chart's rules without `patch` on Deployments. */
function withoutDeploymentPatch(rules: Rule[]): Rule[] {
  return rules.map((rule) =>
    rule.resources.includes("deployments")
      ? { ...rule, verbs: rule.verbs.filter((verb) => verb !== "patch") }
      : rule,
  );
}

/** A kubeconfig for the testbed as the ServiceAccount `operator` of `namespace`. */
async function serviceAccountKubeconfig(namespace: string): Promise<string> {
  const token = (await kubectl(["create", "token", "operator", "-n", namespace])).trim();
  const admin = await kubectlJson<{ clusters: Array<{ cluster: Json }> }>([
    "config",
    "view",
    "--raw",
    "--minify",
  ]);
  const kubeconfigPath = join(mkdtempSync(join(tmpdir(), "jude-narrowed-")), "config");
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "testbed", cluster: admin.clusters[0]!.cluster }],
      users: [{ name: "operator", user: { token } }],
      contexts: [{ name: "operator", context: { cluster: "testbed", user: "operator" } }],
      "current-context": "operator",
    }),
  );
  return kubeconfigPath;
}

const binding = (namespace: string, roleName: string): Json => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "RoleBinding",
  metadata: { name: role, namespace },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
  subjects: [{ kind: "ServiceAccount", name: "operator", namespace: full }],
});

describe("an operator whose Role lacks patch on Deployments in one namespace", () => {
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(full);
    await createRestrictedNamespace(narrowed);
    await kubectl(["create", "serviceaccount", "operator", "-n", full]);
    await apply([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: role },
        rules: chartRules(),
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `${role}-nopatch` },
        rules: withoutDeploymentPatch(chartRules()),
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `${role}-cluster` },
        rules: [{ apiGroups: [""], resources: ["nodes", "namespaces"], verbs: ["get", "list", "watch"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: `${role}-cluster` },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${role}-cluster` },
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace: full }],
      },
      binding(full, role),
      binding(narrowed, `${role}-nopatch`),
    ]);
    const kubeconfigPath = await serviceAccountKubeconfig(full);
    await apply([cpuModel(full, "minilm", { replicas: 1 }), cpuModel(narrowed, "minilm", { replicas: 1 })]);
    // Told after 10 s of failing rather than the operator's 60 s, which with its back-off could
    // leave the model unreported past the test's time limit on a loaded machine.
    operator = startInProcessOperator([full, narrowed], { kubeconfigPath, reconcileErrorAfterMs: 10_000 });
  });
  afterAll(async () => {
    await operator?.stop();
    await kubectl(["delete", "clusterrolebinding", `${role}-cluster`, "--ignore-not-found"]);
    await kubectl([
      "delete",
      "clusterrole",
      role,
      `${role}-nopatch`,
      `${role}-cluster`,
      "--ignore-not-found",
    ]);
    await deleteNamespace(full);
    await deleteNamespace(narrowed);
  });

  it("reconciles the namespace it may write, and says which permission the other lacks", async () => {
    await waitFor(
      `a Deployment of the model in ${full}`,
      async () =>
        (await listObjects("deployments", full, "app.kubernetes.io/managed-by=jude-operator")).length > 0,
      { timeoutMs: 60_000 },
    );
    await waitFor(
      `the model in ${narrowed} Stalled`,
      async () => condition(await getObject("embeddingmodel/minilm", narrowed), "Stalled")?.status === "True",
      { timeoutMs: 90_000 },
    );
    const stalled = condition(await getObject("embeddingmodel/minilm", narrowed), "Stalled")!;
    expect(stalled.reason).toBe("ReconcileError");
    expect(stalled.message).toMatch(/cannot patch resource "deployments" in API group "apps"/);
    expect(condition(await getObject("embeddingmodel/minilm", full), "Stalled")?.reason).not.toBe(
      "ReconcileError",
    );
  });
});

describe("an operator whose Role loses list and watch on Deployments while it runs", () => {
  const namespace = `narrowed-revoked-${process.pid}`;
  const revokedRole = `${role}-revoked`;
  const clusterRole = (rules: Rule[]): Json => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: revokedRole },
    rules,
  });
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    await kubectl(["create", "serviceaccount", "operator", "-n", namespace]);
    await apply([
      clusterRole(chartRules()),
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `${revokedRole}-cluster` },
        rules: [{ apiGroups: [""], resources: ["nodes", "namespaces"], verbs: ["get", "list", "watch"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: `${revokedRole}-cluster` },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: `${revokedRole}-cluster`,
        },
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: revokedRole, namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: revokedRole },
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace }],
      },
    ]);
    const kubeconfigPath = await serviceAccountKubeconfig(namespace);
    await apply([cpuModel(namespace, "minilm", { replicas: 1 })]);
    // Watches of 10..20 s: the one open when the Role is narrowed ends soon, and the next is refused.
    operator = startInProcessOperator([namespace], {
      kubeconfigPath,
      watchStaleMs: 10_000,
      watchTimeoutSeconds: 10,
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await kubectl(["delete", "clusterrolebinding", `${revokedRole}-cluster`, "--ignore-not-found"]);
    await kubectl(["delete", "clusterrole", revokedRole, `${revokedRole}-cluster`, "--ignore-not-found"]);
    await deleteNamespace(namespace);
  });

  it("names the refused watch on /readyz once the informer is stale", async () => {
    await waitFor(
      `a Deployment of the model in ${namespace}`,
      async () =>
        (await listObjects("deployments", namespace, "app.kubernetes.io/managed-by=jude-operator")).length >
        0,
      { timeoutMs: 60_000 },
    );
    await apply([
      clusterRole(
        chartRules().map((rule) =>
          rule.resources.includes("deployments")
            ? { ...rule, verbs: rule.verbs.filter((verb) => verb !== "list" && verb !== "watch") }
            : rule,
        ),
      ),
    ]);
    // The open watch goes on until its server-side timeout (10..20 s here); the next one is refused.
    const server = operator!.manager.server!;
    let body = "";
    await waitFor(
      "/readyz naming the refused Deployments watch",
      async () => {
        const readyz = await fetch(`http://127.0.0.1:${serverPort(server)}/readyz`);
        body = await readyz.text();
        const line = body
          .split("\n")
          .find((entry) => entry.startsWith(`[-]informer:deployments.apps/${namespace} `));
        return readyz.status === 503 && line?.includes("forbidden") === true;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    ).catch(() => undefined);
    expect(body).toMatch(
      new RegExp(
        `\\[-\\]informer:deployments\\.apps/${namespace} no successful watch activity for \\d+ s \\(limit 10 s\\): .*cannot (list|watch) resource "deployments"`,
      ),
    );
  });
});
