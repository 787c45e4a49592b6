// An operator watching two namespaces whose RBAC lets it list only one of them (the RoleBinding of the
// other is missing, or not created yet), against the testbed's real API server with the controllers
// in-process: the namespace it may read is reconciled as usual, /readyz names the informer that
// cannot list and why, and the other namespace is reconciled as soon as its RoleBinding appears.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverPort } from "../../../operator/runtime/health-server.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  type Json,
  startInProcessOperator,
} from "./operator-harness.ts";

const allowed = `forbidden-ok-${process.pid}`;
const denied = `forbidden-no-${process.pid}`;
const role = `jude-forbidden-test-${process.pid}`;

const binding = (namespace: string): Json => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "RoleBinding",
  metadata: { name: role, namespace },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
  subjects: [{ kind: "ServiceAccount", name: "operator", namespace: allowed }],
});

const conditionsOf = async (namespace: string): Promise<unknown[]> =>
  (((await getObject("embeddingmodel/minilm", namespace))?.status as Json | undefined)?.conditions ??
    []) as unknown[];

describe("an operator that may not list one of its namespaces", () => {
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(allowed);
    await createRestrictedNamespace(denied);
    await kubectl(["create", "serviceaccount", "operator", "-n", allowed]);
    await apply([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: role },
        rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
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
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace: allowed }],
      },
      binding(allowed),
    ]);
    const token = (await kubectl(["create", "token", "operator", "-n", allowed])).trim();
    const admin = await kubectlJson<{ clusters: Array<{ cluster: Json }> }>([
      "config",
      "view",
      "--raw",
      "--minify",
    ]);
    const kubeconfigPath = join(mkdtempSync(join(tmpdir(), "jude-forbidden-")), "config");
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
    await apply([cpuModel(allowed, "minilm", { replicas: 1 }), cpuModel(denied, "minilm", { replicas: 1 })]);
    operator = startInProcessOperator([allowed, denied], { kubeconfigPath });
  });
  afterAll(async () => {
    await operator?.stop();
    await kubectl(["delete", "clusterrolebinding", `${role}-cluster`, "--ignore-not-found"]);
    await kubectl(["delete", "clusterrole", role, `${role}-cluster`, "--ignore-not-found"]);
    await deleteNamespace(allowed);
    await deleteNamespace(denied);
  });

  it("reconciles the namespace it may list, and reports the one it may not on /readyz", async () => {
    await waitFor(
      `the model in ${allowed} reconciled`,
      async () => (await conditionsOf(allowed)).length > 0,
      {
        timeoutMs: 60_000,
      },
    );
    expect(await conditionsOf(denied)).toEqual([]);
    const server = operator!.manager.server!;
    const readyz = await fetch(`http://127.0.0.1:${serverPort(server)}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toMatch(
      new RegExp(
        `\\[-\\]informer:embeddingmodels\\.jude\\.dev/${denied} initial list not complete: .*forbidden`,
      ),
    );
  });

  it("reconciles the other namespace once its RoleBinding exists", async () => {
    await apply([binding(denied)]);
    await waitFor(`the model in ${denied} reconciled`, async () => (await conditionsOf(denied)).length > 0, {
      timeoutMs: 90_000,
    });
  });
});
