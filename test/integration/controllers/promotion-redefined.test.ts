// The EmbeddingModel deleted at rest (its version records go with it) and applied again (a GitOps
// re-sync, or another model taking the store over) naming the store's current version with the model
// file that built it but another prompt template, or other vector settings (pooling, normalize,
// maxSequenceLength, precision): the store's registry records the template each entity's vectors were
// made with and the settings of the version, and a spec that differs must not be served as that
// version (query vectors of one kind, data of another), exactly like another model file
// (promotion-downtime.test.ts). The same spec as recorded takes the version back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersion, promptDigest, readPointer, registerVersion, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import { applyObjects, buildVersion, conditionOf, setUpPromotion, type PromotionSetup } from "./harness.ts";

const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

describe("a model applied again naming the store's current version, defined otherwise", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json | undefined;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const definedAs = (change: { prompts?: Json; model?: Json }) => {
    const object = modelAt("v1") as Json & { spec: { model: Json; prompts?: Json } };
    if (change.prompts !== undefined) object.spec.prompts = change.prompts;
    if (change.model !== undefined) object.spec.model = { ...object.spec.model, ...change.model };
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

  /** Applies `redefined` in place of v1: refused with `message`; then `recorded`: v1 taken back. */
  const refusedThenTakenBack = async (redefined: Json, message: string, recorded: Json) => {
    const before = await readPointer(store);
    expect(before.current).toBe("v1");
    await deleteModel();
    await applyObjects(namespace, [redefined]);
    await until("the model's verdict", async () => conditionOf((await model())!, "Ready") !== undefined);
    const stalled = conditionOf((await model())!, "Stalled");
    expect(stalled?.reason).toBe("VersionRedefined");
    expect(stalled?.message).toContain(message);
    expect(conditionOf((await model())!, "Ready")?.status).toBe("False");
    expect((await model())?.status).not.toHaveProperty("activeVersion", "v1");
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeUndefined();
    expect(await getObject("bootstraprun/jobs-v1-promotion", namespace)).toBeUndefined();
    expect(await readPointer(store)).toEqual(before);
    expect((await getVersion(store, "v1"))?.state).toBe("complete");

    // What built it, applied again (the API server lets the model and prompts change only with the
    // version): v1 is the current version again, served without a bootstrap.
    await deleteModel();
    await applyObjects(namespace, [recorded]);
    await until("v1 active again", async () => ((await model())?.status as Json).activeVersion === "v1");
    expect(conditionOf((await model())!, "Stalled")?.reason).not.toBe("VersionRedefined");
    expect(await readPointer(store)).toEqual(before);
  };

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-redefined", () => passing);
    ({ namespace, store } = setup);
    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    // What the run's shards (and the workers) register: the model file, the spec's vector settings
    // (the CRD's defaults here) and their entity's template.
    await registerVersion(store, "v1", {
      modelDigest: `sha256:${hex("v1")}`,
      dimension: 4,
      prompts: { job: "Job: {{title}}" },
      vectorSettings: { pooling: "mean", normalize: true, maxSequenceLength: 512, precision: "fp32" },
    });
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => ((await model())?.status as Json).activeVersion === "v1");
  }, 180_000);

  afterAll(() => setup?.stop());

  it("with another prompt template: refused (VersionRedefined) naming the entity, taken back with the recorded one", async () => {
    await refusedThenTakenBack(
      definedAs({ prompts: { job: "Title: {{title}}" } }),
      `was built with prompt template ${promptDigest("Job: {{title}}")} for entity job, not this spec's ${promptDigest("Title: {{title}}")}`,
      definedAs({ prompts: { job: "Job: {{title}}" } }),
    );
  });

  it("with other vector settings: refused (VersionRedefined) naming them, taken back with the recorded ones", async () => {
    await refusedThenTakenBack(
      definedAs({ model: { pooling: "cls", normalize: false } }),
      "was built with pooling mean, not this spec's cls, and normalize true, not this spec's false",
      definedAs({ model: { pooling: "mean" } }),
    );
  });
});
