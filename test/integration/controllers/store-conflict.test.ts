// Two EmbeddingModels, in two namespaces, whose pipelines name the same store (same Redis, same
// prefix), on the testbed's API server and Redis. The first model to reconcile owns the store; the
// second must stay off it (no pointer flip, no garbage collection, no BootstrapRun), say why in its
// Ready condition and a Warning Event, and take the store over by itself once the owner is deleted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import {
  flip,
  getVersion,
  markVersionComplete,
  readOwner,
  readPointer,
  type Store,
} from "../../../store/index.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  testImages,
  type Json,
} from "../operator/operator-harness.ts";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import {
  bootstrapRun,
  conflictIds as ids,
  conflictModelAt as modelAt,
  hex,
  pipeline,
  storeSecret,
} from "./objects.ts";
import {
  applyObjects,
  conditionOf,
  openTestStore,
  startManager,
  startPromotionOperator,
  writeVectors,
  type PromotionOperator,
} from "./harness.ts";

describe("two EmbeddingModels naming one store", () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const owning = `conflict-a-${run}`;
  const contending = `conflict-b-${run}`;
  const namespaces = [owning, contending];
  let operator: PromotionOperator | undefined;
  let store: Store;
  let closeStore: (() => void) | undefined;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };

  const modelA = () => getObject("embeddingmodel/jobs-model", owning);
  const modelB = () => getObject("embeddingmodel/other-model", contending);
  const workersOfB = async () =>
    ((await getObject("configmap/other-model-b1-record", contending))?.data as Json | undefined)?.workers;
  let topic: string;
  let storeName: string;
  const storeOf = (modelName: string, name = storeName) =>
    pipeline("jobs", topic, (spec) => {
      spec.modelRef = { name: modelName };
      spec.sinks.store.name = name;
    });
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    await installCrds();
    for (const namespace of namespaces) await createRestrictedNamespace(namespace);
    topic = uniqueTopic("store-conflict");
    await createTopics([topic], 1);
    storeName = `conflict-${run}`;
    ({ store, close: closeStore } = await openTestStore(storeName));
    // What model A built before: a1 complete and current.
    await writeVectors(store, "a1", `sha256:${hex("1")}`, ids);
    await markVersionComplete(store, "a1");
    await flip(store, { expectedCurrent: null, target: "a1" });
    await applyObjects(owning, [storeSecret(), storeOf("jobs-model")]);
    await applyObjects(contending, [storeSecret(), storeOf("other-model")]);
    operator = startPromotionOperator(namespaces, () => passing);
  });

  afterAll(async () => {
    await operator?.stop();
    closeStore?.();
    for (const namespace of namespaces) await deleteNamespace(namespace);
  });

  it("keeps the second model off the store: no GC of the owner's candidate, no bootstrap, no flip", async () => {
    // A promotes a2: its BootstrapRun exists and a2 is being built in the store.
    await applyObjects(owning, [modelAt("jobs-model", "a2", "2")]);
    await until(
      "A's BootstrapRun of a2",
      async () => (await getObject("bootstraprun/jobs-a2-promotion", owning)) !== undefined,
    );
    await writeVectors(store, "a2", `sha256:${hex("2")}`, ids.slice(0, 3));

    await applyObjects(contending, [modelAt("other-model", "b1", "3")]);
    await until("B reconciled", async () => conditionOf(await modelB(), "Ready") !== undefined);
    const ready = conditionOf(await modelB(), "Ready")!;
    // Before the fix B garbage-collected a2 (A's candidate) and bootstrapped b1 into A's store.
    expect((await getVersion(store, "a2"))?.state).toBe("building");
    expect(await getObject("bootstraprun/jobs-b1-promotion", contending)).toBeUndefined();
    expect((await readPointer(store)).current).toBe("a1");
    expect(ready).toMatchObject({ status: "False", reason: "StoreConflict" });
    expect(ready.message).toContain(`${owning}/jobs-model`);
    expect(conditionOf(await modelB(), "Stalled")?.status).toBe("True");
    await until("a StoreConflict Warning Event", async () =>
      (
        await kubectl([
          "get",
          "events",
          "-n",
          contending,
          "--field-selector=type=Warning,reason=StoreConflict",
          "-o",
          "jsonpath={.items[*].message}",
        ])
      ).includes(`${owning}/jobs-model`),
    );
    expect((await readOwner(store))?.namespace).toBe(owning);

    // A BootstrapRun of B made by hand does not start either: it would write into A's store.
    const stopRuns = startManager(contending, "store-conflict-runs", (manager) =>
      manager.add(bootstrapRunController({ images: testImages, concurrency: 1 })),
    );
    try {
      const byHand = bootstrapRun("b1-by-hand", "jobs", 1);
      (byHand.spec as Json).modelVersion = "b1";
      await applyObjects(contending, [byHand]);
      await until(
        "the run by hand stalled",
        async () =>
          conditionOf(await getObject("bootstraprun/b1-by-hand", contending), "Stalled")?.status === "True",
      );
      const stalled = conditionOf(await getObject("bootstraprun/b1-by-hand", contending), "Stalled")!;
      expect(stalled.reason).toBe("StoreConflict");
      expect(stalled.message).toContain(`${owning}/jobs-model`);
      expect(await getObject("job/b1-by-hand-bootstrap", contending)).toBeUndefined();
    } finally {
      await stopRuns();
      await kubectl(["delete", "-n", contending, "bootstraprun/b1-by-hand", "--wait=true"]);
    }
  });

  it("takes the store over by itself once the owning model is deleted", async () => {
    const uidA = ((await getObject("embeddingmodel/jobs-model", owning))?.metadata as Json).uid;
    expect((await readOwner(store))?.uid).toBe(uidA);
    await kubectl(["delete", "-n", owning, "embeddingmodel/jobs-model", "--wait=true"]);
    await until(
      "B's BootstrapRun of b1",
      async () => (await getObject("bootstraprun/jobs-b1-promotion", contending)) !== undefined,
    );
    const uidB = ((await modelB())?.metadata as Json).uid;
    expect(await readOwner(store)).toMatchObject({ namespace: contending, name: "other-model", uid: uidB });
    await until(
      "B no longer in conflict",
      async () => conditionOf(await modelB(), "Ready")?.reason !== "StoreConflict",
    );
  });

  it("hands the store on when its owner's pipelines move away, and stops a newcomer's workers", async () => {
    await until("B's workers of b1 asked for", async () => (await workersOfB()) === "true");
    // A, created again, finds the store B's now: it waits.
    await applyObjects(owning, [modelAt("jobs-model", "a2", "2")]);
    await until(
      "A in conflict",
      async () => conditionOf(await modelA(), "Ready")?.reason === "StoreConflict",
    );
    expect(conditionOf(await modelA(), "Ready")?.message).toContain(`${contending}/other-model`);
    // B's pipeline moves to another store: A takes this one over.
    await applyObjects(contending, [storeOf("other-model", `${storeName}-elsewhere`)]);
    const uidA = ((await modelA())?.metadata as Json).uid;
    await until("A owns the store again", async () => (await readOwner(store))?.uid === uidA);
    await until(
      "A no longer in conflict",
      async () => conditionOf(await modelA(), "Ready")?.reason !== "StoreConflict",
    );
    // B's pipeline comes back: B yields to A and its workers no longer write here.
    await applyObjects(contending, [storeOf("other-model")]);
    await until(
      "B in conflict",
      async () => conditionOf(await modelB(), "Ready")?.reason === "StoreConflict",
    );
    expect(conditionOf(await modelB(), "Ready")?.message).toContain(`${owning}/jobs-model`);
    await until("B's workers stopped", async () => (await workersOfB()) === undefined);
    expect((await readOwner(store))?.uid).toBe(uidA);
  });
});
