// Operating a model while a promotion is in flight, on the testbed's real API server and
// controller-manager (kwok nodes): the active version carries every reader for the hours a large
// bootstrap takes, so the capacity the spec asks for (replicas, autoscaling) must reach it, not only
// the candidate, while what makes its vectors stays its own.
import { describe, expect, it } from "vitest";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";

const namespace = `operator-midflight-${process.pid}`;
const modelName = "midflight";

/** The model at `version`, held before cutover: Manual with v1 approved only. */
function model(version: string, serving: Json): Json {
  const object = cpuModel(namespace, modelName, serving);
  Object.assign(object.spec as Json, {
    version,
    promotion: { cutover: "Manual", approvedVersion: "v1", bakeSeconds: 10 },
  });
  return object;
}

async function deploymentSpec(version: string): Promise<Json | undefined> {
  return (await getObject(`deployment/${modelName}-${version}`, namespace))?.spec as Json | undefined;
}

describe("a promotion in flight", () => {
  useInProcessOperator(namespace);

  it("scales the active version with the spec while the candidate waits for cutover", async () => {
    await apply([model("v1", { replicas: 1 })]);
    await waitFor(
      "v1 Ready",
      async () =>
        condition(await getObject(`embeddingmodel/${modelName}`, namespace), "Ready")?.status === "True",
      { timeoutMs: 90_000, intervalMs: 300 },
    );
    await apply([model("v2", { replicas: 1 })]);
    await waitFor(
      "v2 AwaitingCutover",
      async () => {
        const status = (await getObject(`embeddingmodel/${modelName}`, namespace))?.status as
          Json | undefined;
        const versions = (status?.versions ?? []) as { version: string; phase: string }[];
        return versions.some((entry) => entry.version === "v2" && entry.phase === "AwaitingCutover");
      },
      { timeoutMs: 90_000, intervalMs: 300 },
    );

    // Traffic spiked: the platform engineer raises the spec's replicas.
    await apply([model("v2", { replicas: 3 })]);
    await waitFor(
      "v1 (active) and v2 at 3 replicas",
      async () =>
        (await deploymentSpec("v1"))?.replicas === 3 && (await deploymentSpec("v2"))?.replicas === 3,
      { timeoutMs: 60_000, intervalMs: 300 },
    );

    // Then turns autoscaling on: the active version gets an HPA with the spec's bounds and keeps its 3.
    await apply([
      model("v2", { autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 } }),
    ]);
    await waitFor(
      "v1's HPA",
      async () => {
        const spec = (await getObject(`hpa/${modelName}-v1`, namespace))?.spec as Json | undefined;
        return spec?.minReplicas === 2 && spec.maxReplicas === 6;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    expect((await deploymentSpec("v1"))?.replicas).toBe(3);
    // Readers stayed on v1 all along.
    const service = await getObject(`service/${modelName}`, namespace);
    expect(((service?.spec as Json).selector as Record<string, string>)["jude.dev/version"]).toBe("v1");
  });
});
