// A model served without a store (no NearlinePipeline named it) that is given its first pipeline
// later, as GitOps applies them (the model first, its pipeline in a later commit): the store has no
// pointer yet, as after a data loss, but nothing was lost. The active version is built into the store
// and readers get their first pointer; the status says so, not that the store lost the version.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt, versionDigest } from "./objects.ts";
import {
  applyObjects,
  finishBootstrap,
  openTestStore,
  reportCaughtUp,
  setUpPromotion,
  writeVectors,
  type PromotionSetup,
} from "./harness.ts";

describe("a serving-only model given its first pipeline", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let docsStore: { store: Store; close: () => void } | undefined;

  const model = async () => (await getObject("embeddingmodel/docs-model", namespace)) as Json;
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });

  beforeAll(async () => {
    setup = await setUpPromotion("first-pipeline", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    namespace = setup.namespace;
    docsStore = await openTestStore(`${setup.storeName}-docs`);
  }, 120_000);

  afterAll(async () => {
    docsStore?.close();
    await setup?.stop();
  });

  it("builds the active version into its new store without saying the store lost it", async () => {
    const docsModel = promotionModelAt("v1");
    (docsModel.metadata as Json).name = "docs-model";
    await applyObjects(namespace, [docsModel]);
    await until("v1 served without a store", async () => {
      const current = await model();
      return (
        (current.status as Json | undefined)?.activeVersion === "v1" &&
        condition(current, "Ready")?.status === "True"
      );
    });

    const docsPipeline = structuredClone(setup!.jobsPipeline);
    (docsPipeline.metadata as Json).name = "docs";
    const spec = docsPipeline.spec as Json & { sinks: { store: Json } };
    spec.modelRef = { name: "docs-model" };
    spec.sinks.store.name = `${setup!.storeName}-docs`;
    await applyObjects(namespace, [docsPipeline]);
    await until(
      "v1's run into the new store",
      async () => (await getObject("bootstraprun/docs-v1-promotion", namespace)) !== undefined,
    );
    await until("the status reconciled with the pipeline", async () =>
      ["Bootstrapping", "StoreDataLost"].includes(String(condition(await model(), "Ready")?.reason)),
    );
    const building = await model();
    expect(condition(building, "Ready")?.reason).toBe("Bootstrapping");
    expect(condition(building, "RolledBack")?.reason).toBe("NotRolledBack");
    const warnings = await kubectl([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector=type=Warning,reason=StoreDataLost",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    expect(warnings).toBe("");

    // The build: readers get the store's first pointer, a flip counted from 1.
    const { store } = docsStore!;
    await writeVectors(store, "v1", `sha256:${versionDigest("v1")}`, ["d1", "d2"]);
    await finishBootstrap(store, namespace, "docs-v1-promotion", "v1");
    await reportCaughtUp(namespace, "docs", ["v1"]);
    await until("the pointer on v1", async () => (await readPointer(store)).current === "v1");
    expect(await readPointer(store)).toMatchObject({ current: "v1", epoch: 1 });
    expect(await store.client.hget(store.keys.pointer, "kind")).toBe("flip");
    await until("Ready", async () => condition(await model(), "Ready")?.status === "True");
  }, 240_000);
});
