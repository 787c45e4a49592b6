// A model whose store is on a Redis Cluster (spec.sinks.store.cluster; the store Secret holds the
// testbed cluster's seed nodes), on the testbed's API server: the EmbeddingModel controller opens the
// store with a cluster client, bootstraps and flips v1, then promotes to v2 with v1 as the backup.
// Before the field existed the operator read the seed list as a redis:// URL and the model never got
// past ReconcileError. Bootstrap shards and worker lag are played by the test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCluster, readPointer } from "../../../store/index.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promoteThroughBootstrap, setUpPromotion, type PromotionSetup } from "./harness.ts";

describe("a model whose store is a Redis Cluster", () => {
  let setup: PromotionSetup | undefined;

  beforeAll(async () => {
    setup = await setUpPromotion(
      "cluster-promotion",
      () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }),
      {
        cluster: true,
      },
    );
  }, 120_000);

  afterAll(() => setup?.stop());

  it("bootstraps, flips and promotes on the cluster", async () => {
    const { namespace, store } = setup!;
    expect(isCluster(store.client)).toBe(true);
    const short = { bakeSeconds: 0 };
    await promoteThroughBootstrap(setup!, "v1", ["v1"], short);
    expect(await readPointer(store)).toMatchObject({ current: "v1" });
    await promoteThroughBootstrap(setup!, "v2", ["v1", "v2"], short);
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    const model = (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
    expect((model.status as Json).activeVersion).toBe("v2");
  });
});
