/**
 * The dashboard's actions with the credentials of a service account whose token the kubeconfig reads
 * from a file (a projected token): the API server's 403 comes back as 403 with its message (not 400),
 * and a token rotated in the file is the one the next action sends (it was read once per run).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { boundServiceAccount, createRole, writeKubeconfig } from "../../support/kubeconfigs.ts";
import { kubectl } from "../../support/kubectl.ts";
import {
  heldMinilm,
  judeKindsRule,
  namespaceWithPromotingModel,
  postAction,
  startDashboard,
} from "./dashboard-process.ts";

const namespace = `dashboard-credentials-${process.pid}`;
const folder = mkdtempSync(join(tmpdir(), "dashboard-credentials-"));
let plugin: ChildProcess;
let url: string;

/** A service account bound to a Role with `verbs` on the JUDE kinds (and reads of what the page shows). */
async function serviceAccount(name: string, verbs: string[]): Promise<string> {
  await createRole(namespace, name, [
    judeKindsRule(verbs),
    { apiGroups: [""], resources: ["configmaps", "events"], verbs: ["get", "list", "watch"] },
  ]);
  return boundServiceAccount(namespace, name, { role: name });
}

let approverToken: string;
const tokenFile = join(folder, "token");

beforeAll(async () => {
  await namespaceWithPromotingModel(namespace);
  const viewerToken = await serviceAccount("viewer", ["get", "list", "watch"]);
  approverToken = await serviceAccount("approver", ["get", "list", "watch", "patch"]);
  writeFileSync(tokenFile, `${viewerToken}\n`);
  // A kubeconfig whose user reads its token from the file.
  const kubeconfig = await writeKubeconfig(
    join(folder, "config"),
    "projected",
    { "token-file": tokenFile },
    namespace,
  );
  ({ plugin, url } = await startDashboard(namespace, kubeconfig));
}, 120_000);

afterAll(async () => {
  plugin?.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

const approve = () => postAction(url, namespace, "minilm", "approve");

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
  const model = await heldMinilm(namespace);
  expect(model.spec.promotion?.approvedVersion).toBe(model.spec.version);
});
