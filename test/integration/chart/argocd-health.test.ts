/**
 * The chart's Argo CD health check (charts/jude-operator/argocd/health.lua), run by a real Lua 5.1
 * interpreter on JUDE objects read back from the testbed's API server (status written through the
 * /status subresource, as the operator writes it).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { approvalPredatesBuildVerdict } from "../../../controllers/embedding-model/promotion-verdict.ts";
import { kstatusConditions } from "../../../controllers/shared/conditions.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { luaHealth } from "../../support/lua.ts";
import { repoRoot } from "../../testbed/paths.ts";

const script = readFileSync(join(repoRoot, "charts/jude-operator/argocd/health.lua"), "utf8");
const namespace = `argocd-health-${process.pid}`;
const time = "2026-12-01T10:00:00Z";
type Json = Record<string, unknown>;

const condition = (type: string, status: string, message: string) => ({
  type,
  status,
  reason: "Test",
  message,
  lastTransitionTime: time,
});

/** Writes an object and its status (observed at its current generation unless given), reads it back, and returns the health Lua gives it. */
async function healthOf(object: Json & { kind: string; metadata: { name: string } }, status: Json) {
  const resource = await applyWithStatus(object, namespace, status);
  if (status.observedGeneration === undefined) {
    const current = await kubectlJson<{ metadata: { generation: number } }>([
      "get",
      "-n",
      namespace,
      resource,
    ]);
    await applyWithStatus(object, namespace, { ...status, observedGeneration: current.metadata.generation });
  }
  return luaHealth(script, await kubectlJson(["get", "-n", namespace, resource]));
}

beforeAll(async () => {
  await installCrds("argocd-health-test");
  await kubectl(["create", "namespace", namespace]);
});

afterAll(async () => {
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("Argo CD health of JUDE objects", () => {
  const model = promotingModel() as unknown as Json & { kind: string; metadata: { name: string } };

  it("is Healthy when Ready for the current generation", async () => {
    const health = await healthOf(model, { conditions: [condition("Ready", "True", "minilm-v2 is active")] });
    expect(health).toEqual({ status: "Healthy", message: "minilm-v2 is active" });
  });

  it("is Progressing while the operator has not observed the generation or reconciles", async () => {
    expect(
      (await healthOf(model, { observedGeneration: 0, conditions: [condition("Ready", "True", "old")] }))
        .status,
    ).toBe("Progressing");
    const health = await healthOf(model, {
      conditions: [
        condition("Ready", "False", "promoting"),
        condition("Reconciling", "True", "bootstrapping minilm-v2: 42%"),
      ],
    });
    expect(health).toEqual({ status: "Progressing", message: "bootstrapping minilm-v2: 42%" });
  });

  it("is Degraded when Stalled, with the reason", async () => {
    const health = await healthOf(model, {
      conditions: [
        condition("Ready", "False", "stalled"),
        condition("Stalled", "True", "Secret redis-url not found"),
      ],
    });
    expect(health).toEqual({ status: "Degraded", message: "Secret redis-url not found" });
  });

  it("shows a message with line breaks, quotes and digits as the operator wrote it", async () => {
    // A control byte or quote right before a digit ("\n1", "\"0") is where a Lua decimal escape could run on.
    const message = 'two gates shut:\n1. CoverageMet 0.5 < 0.99\n2. ParityPassed "0" of 8 matched';
    const health = await healthOf(model, {
      conditions: [condition("Ready", "False", "stalled"), condition("Stalled", "True", message)],
    });
    expect(health).toEqual({ status: "Degraded", message });
  });

  it("is Suspended while a Manual cutover waits for approval", async () => {
    const health = await healthOf(model, {
      conditions: [condition("Ready", "False", "awaiting approval")],
      versions: [{ version: "minilm-v2", phase: "AwaitingCutover" }],
    });
    expect(health.status).toBe("Suspended");
    expect(health.message).toContain("minilm-v2 passed every gate and waits for approval");
  });

  // The same phase, but approvedVersion names the version for an earlier build of it: Argo CD said it
  // "waits for approval" while the approval shown was there, and setting it again changes nothing.
  it("says an approval given for an earlier build must be given again", async () => {
    const verdict = approvalPredatesBuildVerdict(
      "minilm-v2",
      "minilm-v1",
      { version: "minilm-v2", observedTime: "2026-11-01T10:00:00Z", build: "2026-10-31T10:00:00Z" },
      time,
    );
    const health = await healthOf(model, {
      conditions: kstatusConditions(verdict).map((entry) => ({ ...entry, lastTransitionTime: time })),
      versions: [{ version: "minilm-v2", phase: "AwaitingCutover" }],
    });
    expect(health.status).toBe("Suspended");
    expect(health.message).not.toContain("waits for approval");
    expect(health.message).toContain("approval was given for an earlier build of minilm-v2");
    expect(health.message).toContain("wait until status.approval is gone, and set it to minilm-v2 again");
  });

  it("is Suspended for a suspended BootstrapRun and Degraded for a failed one", async () => {
    const run = bootstrapOfV2() as unknown as Json & { kind: string; metadata: { name: string }; spec: Json };
    expect(
      (await healthOf({ ...run, spec: { ...run.spec, suspend: true } }, { phase: "Suspended" })).status,
    ).toBe("Suspended");
    expect(await healthOf({ ...run, spec: { ...run.spec, suspend: false } }, { phase: "Failed" })).toEqual({
      status: "Degraded",
      message: "Bootstrap failed",
    });
  });

  it("reads NearlinePipelines the same way", async () => {
    const pipeline = jobsPipeline() as unknown as Json & { kind: string; metadata: { name: string } };
    expect(
      await healthOf(pipeline, { conditions: [condition("Ready", "True", "2/2 workers ready")] }),
    ).toEqual({ status: "Healthy", message: "2/2 workers ready" });
  });
});
