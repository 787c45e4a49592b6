// Retention changed while a version is being garbage-collected, on the testbed's API server and Redis:
// v1 -> v2 -> v3 with retainVersions 0 starts collecting v1 (v2 is the pointer's backup); raising
// retainVersions then must not stop the collection half-way and show v1 Retained (half of its buckets
// gone, it cannot serve a rollback). Bootstrap shards and worker lag are played by the test.
// A pod that passes for one of v1's writers holds its collection until the test watches (see
// heldWriterPod).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { heldWriterPod, heldWriterPodName, promotionModelAt as modelAt } from "./objects.ts";
import { applyObjects, promoteThroughBootstrap, type PromotionSetup, setUpPromotion } from "./harness.ts";

describe("retainVersions raised while a version is being collected", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace))!.status ?? {}) as Json & {
      activeVersion?: string;
      versions?: Json[];
    };
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 100 });
  const promote = (version: string, live: string[], promotion: Json) =>
    promoteThroughBootstrap(setup!, version, live, promotion);

  beforeAll(async () => {
    // 2048 buckets: collecting a version takes eight bounded steps (256 buckets each).
    setup = await setUpPromotion(
      "promotion-retention",
      () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }),
      { buckets: 2048 },
    );
    ({ namespace, store } = setup);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("finishes the collection and does not list the version as Retained", async () => {
    const shortLived = { bakeSeconds: 0, retainVersions: 0 };
    await promote("v1", ["v1"], shortLived);
    await promote("v2", ["v1", "v2"], shortLived);
    await applyObjects(namespace, [heldWriterPod("jobs-model", "v1")]);
    await promote("v3", ["v2", "v3"], shortLived);
    // Beyond retention, but a writer of it is still there: nothing of it is collected yet.
    // Once the reconciles the flip set off are over (v2 Retained is their last status change), only
    // the pod's going wakes the model: a step or two at once, the others one per poll interval.
    await until("v2 retained", async () =>
      ((await status()).versions ?? []).some((entry) => entry.version === "v2" && entry.phase === "Retained"),
    );
    expect((await getVersion(store, "v1"))?.state).toBe("complete");
    await kubectl(["delete", "pod", "-n", namespace, heldWriterPodName("jobs-model", "v1"), "--wait=true"]);
    await until("v1 being collected", async () => (await getVersion(store, "v1"))?.state === "deleting");
    await applyObjects(namespace, [modelAt("v3", { bakeSeconds: 0, retainVersions: 3 })]);
    await until("v1 collected", async () => (await getVersion(store, "v1")) === null, 60_000);
    const record = () => getObject("configmap/jobs-model-v1-record", namespace);
    // Not Retained once its vectors are gone either: recorded as collected (a rollback rebuilds it).
    await until(
      "v1 recorded as collected",
      async () => ((await record())?.data as Json | undefined)?.collected === "true",
    );
    await until("v1 not listed", async () =>
      ((await status()).versions ?? []).every((entry) => entry.version !== "v1"),
    );
    const versions = (await status()).versions ?? [];
    expect(versions.find((entry) => entry.version === "v2")?.phase).toBe("Retained");
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v2" });
  });
});
