// Capacity across a cutover on the testbed's real API server and controller-manager (Deployment,
// ReplicaSet and HPA controllers, kwok nodes): an autoscaled model's candidate takes the readers only
// once it runs as many replicas as the active version its HPA scaled out, not at its minReplicas.
import { describe, expect, it } from "vitest";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";

const namespace = `operator-capacity-${process.pid}`;
const modelName = "capacity";
const autoscaling = { minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 80 };

function model(version: string): Json {
  const object = cpuModel(namespace, modelName, { autoscaling });
  Object.assign(object.spec as Json, { version, promotion: { bakeSeconds: 10 } });
  return object;
}

async function readyReplicas(deployment: string): Promise<number> {
  const object = await getObject(`deployment/${deployment}`, namespace);
  return ((object?.status as Json | undefined)?.readyReplicas as number | undefined) ?? 0;
}

describe("an autoscaled model's cutover", () => {
  useInProcessOperator(namespace);

  it("moves readers to the candidate once it runs as many replicas as the active version", async () => {
    await apply([model("v1")]);
    await waitFor(
      "v1 Ready",
      async () =>
        condition(await getObject(`embeddingmodel/${modelName}`, namespace), "Ready")?.status === "True",
      { timeoutMs: 90_000, intervalMs: 300 },
    );
    // What the HPA does under production load (the testbed has no metrics, so the HPA leaves it).
    await kubectl(["scale", "-n", namespace, `deployment/${modelName}-v1`, "--replicas=3"]);
    await waitFor("v1 at 3 ready replicas", async () => (await readyReplicas(`${modelName}-v1`)) === 3, {
      timeoutMs: 60_000,
      intervalMs: 300,
    });

    await apply([model("v2")]);
    let candidateReady = 0;
    await waitFor(
      "the query Service to select v2",
      async () => {
        const service = await getObject(`service/${modelName}`, namespace);
        const selector = (service?.spec as Json | undefined)?.selector as Record<string, string> | undefined;
        if (selector?.["jude.dev/version"] !== "v2") return false;
        candidateReady = await readyReplicas(`${modelName}-v2`);
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(candidateReady).toBeGreaterThanOrEqual(3);
    // Its HPA keeps that floor while v1 is still served (bake), then falls back to the spec's.
    const minReplicas = async () =>
      ((await getObject(`hpa/${modelName}-v2`, namespace))?.spec as Json).minReplicas;
    const floorAfterSwitch = await minReplicas();
    if ((await getObject(`deployment/${modelName}-v1`, namespace)) !== undefined)
      expect(floorAfterSwitch).toBe(3);
    await waitFor(
      "v1 retired and v2's HPA back at minReplicas 1",
      async () =>
        (await getObject(`deployment/${modelName}-v1`, namespace)) === undefined &&
        (await minReplicas()) === 1,
      { timeoutMs: 60_000, intervalMs: 300 },
    );
  });
});
