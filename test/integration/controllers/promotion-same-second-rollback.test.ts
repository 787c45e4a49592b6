// A rollback that lands in the same second as the flip it reverts, on the testbed's API server and
// Redis: v1 -> v2 -> v1, then v3. Version records keep whole-second times (as conditions do), so such
// a rollback records v1 deactivated and activated again at the same second, and v2 activated and
// deactivated then too. Landing in one second cannot be timed by a test: the rollback is made for
// real, then, with the operator stopped, the records' times and the pointer's flip time are set to
// what a rollback within one second two hours ago wrote (one time T for all four, past the bake). When v3 takes over from v1, readers leave v1 at that
// moment: it must drain for bakeSeconds (served, workers kept), so a rollback to it stays one flip.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlKeys, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import {
  applyObjects,
  promoteThroughBootstrap,
  startPromotionOperator,
  type PromotionOperator,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

describe("a rollback in the same second as the flip it reverts", () => {
  let setup: PromotionSetup | undefined;
  let operator: PromotionOperator | undefined;
  let namespace: string;
  let store: Store;
  const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };
  const baking = { bakeSeconds: 3600, retainVersions: 2 };

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace))!.status ?? {}) as Json & {
      activeVersion?: string;
      versions?: Json[];
    };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 100 });
  const recordTimes = async (version: string, time: string) =>
    kubectl([
      "patch",
      "configmap",
      `jobs-model-${version}-record`,
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ data: { activatedTime: time, deactivatedTime: time } }),
    ]);

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-same-second", () => passing);
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"], baking);
    await promoteThroughBootstrap(setup, "v2", ["v1", "v2"], baking);
    await applyObjects(namespace, [modelAt("v1", baking)]);
    await until("rolled back to v1", async () => (await status()).activeVersion === "v1");
    await until("v2 draining", async () => (await phaseOf("v2")) === "Draining");
  }, 240_000);

  afterAll(async () => {
    await operator?.stop();
    await setup?.stop();
  });

  it("drains v1 for bakeSeconds when v3 takes over from it", async () => {
    await operator!.stop();
    operator = undefined;
    // The rollback, and the flip it reverted, happened in one second two hours ago (past the bake).
    const rolledBackAtMs = Math.floor((Date.now() - 2 * 3600_000) / 1000) * 1000;
    const rolledBackAt = new Date(rolledBackAtMs).toISOString().replace(/\.\d{3}Z$/, "Z");
    await recordTimes("v1", rolledBackAt);
    await recordTimes("v2", rolledBackAt);
    await store.client.hset(controlKeys(store.layout).pointer, "flipped_at_ms", String(rolledBackAtMs + 500));
    operator = startPromotionOperator(namespace, () => passing);
    await promoteThroughBootstrap(setup!, "v3", ["v1", "v3"], baking);
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v1" });
    await until("v1 phase told", async () => (await phaseOf("v1")) !== undefined);
    expect(await phaseOf("v1")).toBe("Draining");
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeDefined();
  });
});
