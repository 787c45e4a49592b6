// A promoted model at rest whose store is changed behind the operator's back (a script, a person with
// redis-cli, a deposed leader's late write): the pointer flipped to the backup version, or deleted.
// Nothing in the cluster changes, so no watch wakes the model; the operator must still find the drift
// and set the pointer back to the version its status and query Service name, or readers would look up
// one model's vectors with the other model's query encoder. Bootstrap shards and worker lag are played
// by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flip, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import {
  promoteThroughBootstrap,
  type PromotionOperator,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

/**
 * The model's resync here (--model-resync-seconds; 30 s in production): nothing but the resync wakes a
 * model at rest, and it stays longer than the 6 s of quiet the tests wait for before touching the store.
 */
const modelResyncMs = 10_000;

describe("a promoted model's store changed by hand while the model is at rest", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator | undefined;
  let store: Store;

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace)) as Json).status as Json & {
      activeVersion?: string;
    };
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const eventsOf = (reason: string) =>
    kubectl([
      "get",
      "events",
      "-n",
      namespace,
      `--field-selector=reason=${reason}`,
      "-o",
      "jsonpath={.items[*].message}",
    ]);
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  /** Within one resync, with room for the reconcile itself. */
  const withinResync = modelResyncMs + 15_000;

  beforeAll(async () => {
    setup = await setUpPromotion("store-drift", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }), {
      settings: { modelResyncMs },
    });
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
    await promoteThroughBootstrap(setup, "v2", ["v1", "v2"]);
  }, 240_000);

  afterAll(() => setup?.stop());

  it("flips the pointer back when it was flipped to the backup version by hand", async () => {
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    await flip(store, { expectedCurrent: "v2", target: "v1" });
    await until("pointer back on v2", async () => (await readPointer(store)).current === "v2", withinResync);
    expect(await querySelector()).toBe("v2");
    expect((await status()).activeVersion).toBe("v2");
    // Said as what happened, not as a rollback someone asked for (it was, before).
    await until("the PointerRestored Warning", async () =>
      (await eventsOf("PointerRestored")).includes("v1"),
    );
    expect(await eventsOf("RolledBack")).toBe("");
    const rolledBack = ((await status()).conditions as Json[]).find((each) => each["type"] === "RolledBack");
    expect(rolledBack).toMatchObject({ status: "False" });
  }, 120_000);

  it("writes the pointer again when it was deleted", async () => {
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    await store.client.del(store.keys.pointer);
    await until("pointer on v2 again", async () => (await readPointer(store)).current === "v2", withinResync);
    expect(await querySelector()).toBe("v2");
    expect((await status()).activeVersion).toBe("v2");
  }, 120_000);
});
