// The EmbeddingModel deleted at rest (its version records go with it) and applied again (a GitOps
// re-sync, or another model taking the store over) naming the store's current version with the model
// file that built it but another prompt template: the store's registry records the template each
// entity's vectors were made with, and a spec whose template is not it must not be served as that
// version (query vectors of one template, data of another), exactly like another model file
// (promotion-downtime.test.ts). The same spec with the recorded template takes the version back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersion, promptDigest, readPointer, registerVersion, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import { applyObjects, buildVersion, conditionOf, setUpPromotion, type PromotionSetup } from "./harness.ts";

const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

describe("a model applied again naming the store's current version with another prompt template", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json | undefined;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const withPrompt = (template: string) => {
    const object = modelAt("v1") as Json & { spec: Json };
    object.spec.prompts = { job: template };
    return object;
  };

  const deleteModel = async () => {
    await kubectl(["delete", "-n", namespace, "embeddingmodel/jobs-model", "--wait=true", "--timeout=60s"]);
    await until("the model's records and Deployments removed", async () =>
      (
        await Promise.all([
          getObject("configmap/jobs-model-v1-record", namespace),
          getObject("deployment/jobs-model-v1", namespace),
        ])
      ).every((object) => object === undefined),
    );
  };

  beforeAll(async () => {
    setup = await setUpPromotion("promptreg-redefined", () => passing);
    ({ namespace, store } = setup);
    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    // What the run's shards (and the workers) register: the model file and their entity's template.
    await registerVersion(store, "v1", {
      modelDigest: `sha256:${hex("v1")}`,
      dimension: 4,
      prompts: { job: "Job: {{title}}" },
    });
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => ((await model())?.status as Json).activeVersion === "v1");
  }, 180_000);

  afterAll(() => setup?.stop());

  it("is refused (VersionRedefined) naming the entity, and taken back with the recorded template", async () => {
    const before = await readPointer(store);
    expect(before.current).toBe("v1");
    await deleteModel();
    await applyObjects(namespace, [withPrompt("Title: {{title}}")]);
    await until("the model's verdict", async () => conditionOf((await model())!, "Ready") !== undefined);
    const stalled = conditionOf((await model())!, "Stalled");
    expect(stalled?.reason).toBe("VersionRedefined");
    expect(stalled?.message).toContain(
      `was built with prompt template ${promptDigest("Job: {{title}}")} for entity job, not this spec's ${promptDigest("Title: {{title}}")}`,
    );
    expect(conditionOf((await model())!, "Ready")?.status).toBe("False");
    expect((await model())?.status).not.toHaveProperty("activeVersion", "v1");
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeUndefined();
    expect(await getObject("bootstraprun/jobs-v1-promotion", namespace)).toBeUndefined();
    expect(await readPointer(store)).toEqual(before);
    expect((await getVersion(store, "v1"))?.state).toBe("complete");

    // The template that built it (applied again: the API server lets prompts change only with the
    // version): v1 is the current version again, served without a bootstrap.
    await deleteModel();
    await applyObjects(namespace, [withPrompt("Job: {{title}}")]);
    await until("v1 active again", async () => ((await model())?.status as Json).activeVersion === "v1");
    expect(conditionOf((await model())!, "Stalled")?.reason).not.toBe("VersionRedefined");
    expect(await readPointer(store)).toEqual(before);
  });
});
