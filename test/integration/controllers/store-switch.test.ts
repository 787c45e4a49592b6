// A promoted model whose NearlinePipelines are pointed at another store (spec.sinks.store.name), on the
// testbed's API server and Redis: a newer pipeline naming another store must not move the model (the
// pipeline controller stalls that pipeline and keeps the older one's store).
// The bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import type { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOwner, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import {
  applyObjects,
  openTestStore,
  promoteThroughBootstrap,
  setUpPromotion,
  type PromotionSetup,
} from "./harness.ts";

describe("a model whose pipelines name another store", () => {
  let setup: PromotionSetup | undefined;
  let other: { store: Store; close: () => void } | undefined;
  let otherName: string;

  const model = async () => (await getObject("embeddingmodel/jobs-model", setup!.namespace)) as Json;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const reconciles = async (registry: Registry) =>
    ((await registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values ?? [])
      .filter((value) => value.labels.controller === "embedding-model")
      .reduce((sum, value) => sum + value.value, 0);
  /** The `jobs` pipeline as set up, writing to store `name` (under another object name when given). */
  const jobsPipelineOn = (name: string, objectName?: string): Json => {
    const copy = structuredClone(setup!.jobsPipeline) as Json;
    if (objectName !== undefined) (copy.metadata as Json).name = objectName;
    const sinks = (copy.spec as Json).sinks as Json;
    sinks.store = { ...(sinks.store as Json), name };
    return copy;
  };

  beforeAll(async () => {
    setup = await setUpPromotion("store-switch", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    otherName = `${setup.storeName}-b`;
    other = await openTestStore(otherName);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
    await promoteThroughBootstrap(setup, "v2", ["v1", "v2"]);
  }, 240_000);

  afterAll(async () => {
    if (other !== undefined) {
      await deleteKeysWithPrefix(other.store.client, otherName);
      other.close();
    }
    if (setup !== undefined) await deleteKeysWithPrefix(setup.store.client, setup.storeName);
    await setup?.stop();
  });

  it("keeps the store of its oldest pipeline when a newer one names another store", async () => {
    const { namespace, store, operator } = setup!;
    // Newer than `jobs`, but first by name: the pipeline controller stalls it and keeps `jobs` running.
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    const before = await reconciles(operator.registry);
    await applyObjects(namespace, [jobsPipelineOn(otherName, "aaa-jobs")]);
    // The pipeline's creation wakes the model (its controller watches pipelines).
    await until(
      "the model reconciled with the new pipeline",
      async () => (await reconciles(operator.registry)) > before,
    );

    expect(condition(await model(), "Ready")).toMatchObject({ status: "True", reason: "Promoted" });
    expect((await model()).status).toMatchObject({ activeVersion: "v2" });
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    // The model neither claimed the other store nor started rebuilding v2 into it.
    expect(await readOwner(other!.store)).toBeUndefined();
    expect(await getObject("bootstraprun/aaa-jobs-v2-promotion", namespace)).toBeUndefined();
    expect((await getObject("bootstraprun/jobs-v2-promotion", namespace))?.status).toMatchObject({
      phase: "Succeeded",
    });

    await kubectl(["delete", "-n", namespace, "nearlinepipeline/aaa-jobs", "--wait=true"]);
  }, 120_000);
});
