// A version record whose labels were removed by hand (kubectl label configmap … jude.dev/model-), on the
// testbed's API server and Redis: the record of a Retained version is the only thing that says its
// vectors are kept for a rollback. The operator finds its records by label; a record it no longer
// finds must not make the version look like a superseded build (collected from the store: the
// rollback target's vectors deleted). It is read by name for every version the store holds, and its
// labels are put back. Bootstrap shards and worker lag are played by the test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import { applyObjects, promoteThroughBootstrap, type PromotionSetup, setUpPromotion } from "./harness.ts";

describe("a Retained version's record with its labels removed by hand", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace))!.status ?? {}) as Json & {
      versions?: Json[];
    };
  const record = async () => getObject("configmap/jobs-model-v1-record", namespace);
  const labelsOf = (object: Json | undefined) =>
    ((object?.metadata as Json | undefined)?.labels ?? {}) as Record<string, string>;

  beforeAll(async () => {
    setup = await setUpPromotion("record-label", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    ({ namespace, store } = setup);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("keeps the version's vectors and puts the labels back", async () => {
    const policy = { bakeSeconds: 0, retainVersions: 2 };
    await promoteThroughBootstrap(setup!, "v1", ["v1"], policy);
    await promoteThroughBootstrap(setup!, "v2", ["v1", "v2"], policy);
    await promoteThroughBootstrap(setup!, "v3", ["v2", "v3"], policy);
    await waitFor(
      "v1 retained",
      async () =>
        ((await status()).versions ?? []).some(
          (entry) => entry.version === "v1" && entry.phase === "Retained",
        ),
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v2" });
    expect(labelsOf(await record())["jude.dev/model"]).toBe("jobs-model");

    await kubectl(["label", "configmap", "-n", namespace, "jobs-model-v1-record", "jude.dev/model-"]);
    // Any change of the model wakes it (an annotation changes no spec).
    await applyObjects(namespace, [
      {
        ...modelAt("v3", policy),
        metadata: { name: "jobs-model", annotations: { "test.jude.dev/nudge": "1" } },
      },
    ]);
    await waitFor(
      "v1's record labelled again, or v1's vectors leaving",
      async () =>
        labelsOf(await record())["jude.dev/model"] === "jobs-model" ||
        (await getVersion(store, "v1"))?.state !== "complete",
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await getVersion(store, "v1"))?.state).toBe("complete");
    expect(((await status()).versions ?? []).find((entry) => entry.version === "v1")?.phase).toBe("Retained");
  });
});
