// An EmbeddingModel kept in Git and synced as Argo CD and Flux sync it (server-side apply under their
// own field manager, no --force-conflicts), on the testbed's real API server and controller-manager
// (kwok nodes): while the operator builds, promotes and settles the model, a server-side diff of the
// Git manifest stays empty and a re-sync is never refused, because the operator writes nothing of the
// object but its status; an approval made with `kubectl jude approve` survives the syncs of a Git
// manifest that leaves approvedVersion out.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, cpuModel, getObject, type Json, useInProcessOperator } from "./operator-harness.ts";

const namespace = `operator-gitops-${process.pid}`;
const modelName = "gitops";
const gitOpsManager = "argocd-controller";

/** The model as committed to Git at `version`: Manual cutover, approvedVersion left to the plugin. */
function committed(version: string): Json {
  const object = cpuModel(namespace, modelName, { replicas: 1 });
  Object.assign(object.spec as Json, { version, promotion: { cutover: "Manual", bakeSeconds: 5 } });
  return object;
}

/** A sync: the server-side diff first (it throws when it finds drift), then the apply. */
async function sync(model: Json, { expectNoDrift }: { expectNoDrift: boolean }): Promise<void> {
  const args = ["--server-side", `--field-manager=${gitOpsManager}`, "-f", "-"];
  if (expectNoDrift) await kubectl(["diff", ...args], JSON.stringify(model));
  await kubectl(["apply", ...args], JSON.stringify(model));
}

/** `kubectl jude approve`, run as a user runs it. */
async function approve(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [
      join(repoRoot, "cli/kubectl-jude.ts"),
      "approve",
      modelName,
      "-n",
      namespace,
      "--kubeconfig",
      requireEnv("KUBECONFIG"),
    ],
    { cwd: repoRoot },
  );
}

/** Re-syncs the unchanged Git manifest until `done` holds of the model, finding no drift at any sync. */
async function resyncUntil(model: Json, what: string, done: (live: Json) => boolean): Promise<void> {
  await waitFor(
    what,
    async () => {
      await sync(model, { expectNoDrift: true });
      const live = await getObject(`embeddingmodel/${modelName}`, namespace);
      return live !== undefined && done(live);
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

const status = (live: Json) => (live.status ?? {}) as Json;
const phaseOf = (live: Json, version: string) =>
  ((status(live).versions ?? []) as Json[]).find((entry) => entry.version === version)?.phase;

describe("an EmbeddingModel synced from Git", () => {
  useInProcessOperator(namespace);

  it("shows no drift while it is built, approved and promoted, and keeps the approval", async () => {
    await sync(committed("v1"), { expectNoDrift: false });
    await resyncUntil(
      committed("v1"),
      "v1 waiting for approval",
      (live) => phaseOf(live, "v1") === "AwaitingCutover",
    );
    await approve();
    await resyncUntil(committed("v1"), "v1 active", (live) => status(live).activeVersion === "v1");

    await sync(committed("v2"), { expectNoDrift: false });
    await resyncUntil(
      committed("v2"),
      "v2 waiting for approval",
      (live) => phaseOf(live, "v2") === "AwaitingCutover",
    );
    await approve();
    await resyncUntil(
      committed("v2"),
      "v2 active and v1 retained",
      (live) =>
        status(live).activeVersion === "v2" &&
        phaseOf(live, "v1") === "Retained" &&
        condition(live, "Ready")?.status === "True",
    );

    const live = await kubectlJson<{
      spec: { promotion: { approvedVersion?: string } };
      metadata: { managedFields: { manager: string; subresource?: string; fieldsV1: Json }[] };
    }>(["get", `embeddingmodel/${modelName}`, "-n", namespace, "--show-managed-fields"]);
    expect(live.spec.promotion.approvedVersion).toBe("v2");
    // Outside /status, only Git's manager and the plugin's approval own anything.
    expect(
      live.metadata.managedFields
        .filter((entry) => entry.subresource !== "status")
        .map((entry) => [entry.manager, Object.keys(entry.fieldsV1)]),
    ).toEqual(
      expect.arrayContaining([
        [gitOpsManager, ["f:spec"]],
        ["kubectl-jude", ["f:spec"]],
      ]),
    );
    expect(live.metadata.managedFields.filter((entry) => entry.subresource !== "status")).toHaveLength(2);
  });
});
