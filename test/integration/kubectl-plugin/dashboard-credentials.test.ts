/**
 * The dashboard's actions with the credentials of a service account whose token the kubeconfig reads
 * from a file (a projected token): the API server's 403 comes back as 403 with its message (not 400),
 * and a token rotated in the file is the one the next action sends (it was read once per run).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadYaml } from "@kubernetes/client-node";
import type { promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { namespaceWithPromotingModel, startDashboard } from "./dashboard-process.ts";

const namespace = `dashboard-credentials-${process.pid}`;
const folder = mkdtempSync(join(tmpdir(), "dashboard-credentials-"));
let plugin: ChildProcess;
let url: string;

/** A service account bound to a Role with `verbs` on the JUDE kinds (and reads of what the page shows). */
async function serviceAccount(name: string, verbs: string[]): Promise<string> {
  await kubectl(["create", "serviceaccount", "-n", namespace, name]);
  const role = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace },
    rules: [
      {
        apiGroups: ["jude.dev"],
        resources: ["embeddingmodels", "nearlinepipelines", "bootstrapruns"],
        verbs,
      },
      { apiGroups: [""], resources: ["configmaps", "events"], verbs: ["get", "list", "watch"] },
    ],
  };
  await kubectl(["apply", "-f", "-"], JSON.stringify(role));
  await kubectl([
    "create",
    "rolebinding",
    "-n",
    namespace,
    name,
    `--role=${name}`,
    `--serviceaccount=${namespace}:${name}`,
  ]);
  return (await kubectl(["create", "token", "-n", namespace, name])).trim();
}

/** A kubeconfig for the testbed's API server whose user reads its token from `tokenFile`. */
function kubeconfigWithTokenFile(tokenFile: string): string {
  const admin = loadYaml<{
    clusters: { name: string; cluster: Record<string, unknown> }[];
  }>(readFileSync(requireEnv("KUBECONFIG"), "utf8"));
  const file = join(folder, "config");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "testbed", cluster: admin.clusters[0]!.cluster }],
      users: [{ name: "projected", user: { "token-file": tokenFile } }],
      contexts: [{ name: "projected", context: { cluster: "testbed", user: "projected", namespace } }],
      "current-context": "projected",
    }),
  );
  return file;
}

let approverToken: string;
const tokenFile = join(folder, "token");

beforeAll(async () => {
  await namespaceWithPromotingModel(namespace);
  const viewerToken = await serviceAccount("viewer", ["get", "list", "watch"]);
  approverToken = await serviceAccount("approver", ["get", "list", "watch", "patch"]);
  writeFileSync(tokenFile, `${viewerToken}\n`);
  ({ plugin, url } = await startDashboard(namespace, kubeconfigWithTokenFile(tokenFile)));
}, 120_000);

afterAll(async () => {
  plugin?.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

const approve = () =>
  fetch(`${url}api/models/${namespace}/minilm/approve`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });

it("passes the API server's 403 through with its message, then acts with the token rotated into the file", async () => {
  const denied = await approve();
  const { error } = (await denied.json()) as { error: string };
  expect(denied.status).toBe(403);
  expect(error).toContain(
    `the API server says: embeddingmodels.jude.dev "minilm" is forbidden: User "system:serviceaccount:${namespace}:viewer" cannot patch resource "embeddingmodels"`,
  );
  // The kubelet writes a new projected token into the same file; here, one with more rights.
  writeFileSync(tokenFile, `${approverToken}\n`);
  const approved = await approve();
  expect(approved.status).toBe(200);
  const model = await kubectlJson<ReturnType<typeof promotingModel>>([
    "get",
    "-n",
    namespace,
    "embeddingmodel/minilm",
  ]);
  expect(model.spec.promotion?.approvedVersion).toBe(model.spec.version);
});
