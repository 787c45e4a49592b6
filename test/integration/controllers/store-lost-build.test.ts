// A candidate waiting for approval (cutover Manual, every gate passed) whose store's Redis then loses
// its data: its BootstrapRun says Succeeded, the registry has no such version, or (when one of the
// version's writers registered it again before the operator looked: a nearline worker restarted or
// rescheduled after the Redis restart registers its version when it starts, pipelines/nearline/app.ts)
// says building, and nothing of that run will mark it complete again. The loss is played by deleting
// every key of the test's own store on the testbed's Redis (never FLUSHALL: other suites share it),
// the worker's registration by registering the version as a worker does; the bootstrap shards and the
// worker lag are played by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersion, readPointer, registerVersion, type Store } from "../../../store/index.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt, versionDigest } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  promoteThroughBootstrap,
  type PromotionOperator,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

/** The model's resync: nothing but the resync wakes a model at rest after its store lost its data. */
const modelResyncMs = 10_000;

const cases = [
  {
    title: "a candidate whose store lost its build while it awaited approval",
    suite: "store-lost-build",
    // Before: the succeeded run was kept, BootstrapComplete said "succeeded but the store marks v2
    // absent" for ever, and no run would ever fill v2 again (nor v1: the spec names v2).
    afterLoss: async () => {},
  },
  {
    title: "a candidate whose store lost its build and whose worker registered it again",
    suite: "store-lost-reregistered",
    // Before: BootstrapComplete said "succeeded but the store marks v2 building" for ever, and no run
    // would ever fill v2 again.
    afterLoss: async (store: Store) => {
      await registerVersion(store, "v2", { modelDigest: `sha256:${versionDigest("v2")}`, dimension: 4 });
    },
  },
];

describe.each(cases)("$title", ({ suite, afterLoss }) => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator | undefined;
  let store: Store;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const phaseOf = async (version: string) =>
    (
      (await model()).status as { versions?: { version: string; phase?: string }[] } | undefined
    )?.versions?.find((entry) => entry.version === version)?.phase;
  const runUid = async () =>
    ((await getObject("bootstraprun/jobs-v2-promotion", namespace))?.metadata as Json | undefined)?.uid;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    setup = await setUpPromotion(suite, () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }), {
      settings: { modelResyncMs },
    });
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 240_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it("bootstraps it again with a new run, then flips to it once approved", async () => {
    await applyObjects(namespace, [promotionModelAt("v2", { cutover: "Manual" })]);
    await until("v2's run", async () => (await runUid()) !== undefined);
    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until("v2 AwaitingCutover", async () => (await phaseOf("v2")) === "AwaitingCutover");
    const firstRun = await runUid();
    await waitUntilAtRest(operator!.registry, "embedding-model", 3_000);

    await deleteKeysWithPrefix(store.client, setup!.storeName);
    await afterLoss(store);

    await until(
      "a new run of v2",
      async () => {
        const uid = await runUid();
        return uid !== undefined && uid !== firstRun;
      },
      modelResyncMs + 30_000,
    );
    expect(await phaseOf("v2")).toBe("Bootstrapping");
    expect(condition(await model(), "Ready")?.reason).toBe("StoreDataLost");
    expect((await readPointer(store)).current).toBeNull();

    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until("v2 AwaitingCutover again", async () => (await phaseOf("v2")) === "AwaitingCutover");
    expect((await getVersion(store, "v2"))?.state).toBe("complete");
    await applyObjects(namespace, [promotionModelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await until("pointer on v2", async () => (await readPointer(store)).current === "v2");
    await until("Ready", async () => condition(await model(), "Ready")?.status === "True");
  }, 300_000);
});
