// The operator stopped between the store flip and everything after it (version records, query
// Service), and spec.version set back while it was down: the restarted operator must take the pointer
// as the witness that the candidate went live. Readers used v2's vectors, so the rollback to v1 is one
// flip back, the query Service and the pointer end on the same version, and v2 drains for the bake
// period (served, a rollback to it one flip) instead of being removed as a build that never went live.
// Bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flip, readPointer, type Store } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import {
  applyObjects,
  awaitCutover,
  type PromotionOperator,
  startPromotionOperator,
  type PromotionSetup,
  setUpPromotion,
  promoteThroughBootstrap,
} from "./harness.ts";

describe("operator stopped right after a flip, spec.version set back while it was down", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator | undefined;
  let store: Store;
  const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace)) as Json).status as Json & {
      activeVersion?: string;
      versions?: Json[];
    };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-flip-restart", () => passing);
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"], { cutover: "Manual", approvedVersion: "v1" });
  }, 180_000);

  afterAll(async () => {
    await operator?.stop(); // the one the test started after stopping the first
    await setup?.stop();
  });

  it("flips back to v1 with the query Service, and keeps v2 draining", async () => {
    // v2 passes every gate and waits for approval; the operator is then stopped and the flip the
    // approval would trigger is made by hand: the state a kill right after the flip leaves.
    await awaitCutover(setup!, "v2", ["v1", "v2"]);
    await operator!.stop();
    operator = undefined;
    await flip(store, { expectedCurrent: "v1", target: "v2" });
    expect(await querySelector(), "the Service was not moved before the stop").toBe("v1");
    await applyObjects(namespace, [modelAt("v1", { cutover: "Manual" })]);

    operator = startPromotionOperator(namespace, () => passing);
    await until("pointer back on v1", async () => (await readPointer(store)).current === "v1");
    await until("v2 draining", async () => (await phaseOf("v2")) === "Draining");
    expect(await querySelector()).toBe("v1");
    expect((await status()).activeVersion).toBe("v1");
    expect(
      await getObject("deployment/jobs-model-v2", namespace),
      "v2 stays served for the bake",
    ).toBeDefined();
    expect((await readPointer(store)).backup).toBe("v2");
  });
});
