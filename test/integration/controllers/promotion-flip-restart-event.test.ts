// The operator killed between the store flip and the status write that follows it (its Promoted
// Event is emitted with that write): the restarted operator finds the pointer already on the
// candidate. Readers did switch, so the promotion still gets its Promoted Event, once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flip, readPointer, type Store } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import {
  applyObjects,
  awaitCutover,
  embeddingModelEvents,
  type PromotionOperator,
  startPromotionOperator,
  type PromotionSetup,
  setUpPromotion,
  promoteThroughBootstrap,
} from "./harness.ts";

describe("operator killed right after a flip, spec unchanged", () => {
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
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const promotedEvents = async () =>
    (await embeddingModelEvents(namespace, ",reason=Promoted")).map((event) => event.message as string);

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-flip-event", () => passing);
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"], { cutover: "Manual", approvedVersion: "v1" });
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await setup?.stop();
  });

  it("reports the promotion the killed operator made", async () => {
    await awaitCutover(setup!, "v2", ["v1", "v2"]);
    await operator!.stop();
    operator = undefined;
    // The approval's flip, made by the operator that was then killed before its status write.
    await applyObjects(namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await flip(store, { expectedCurrent: "v1", target: "v2" });

    operator = startPromotionOperator(namespace, () => passing);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect((await readPointer(store)).current).toBe("v2");
    await until("a Promoted Event for v2", async () =>
      (await promotedEvents()).some((message) => message.includes("from v1 to v2")),
    );
    expect((await promotedEvents()).filter((message) => message.includes("to v2"))).toHaveLength(1);
  });
});
