// A promotion waiting for its Manual approval (AwaitingCutover) through what happens around it: the
// operator restarted on a new image tag (what `helm upgrade` with another tag does) and the store
// Secret's key renamed and renamed back while the approval comes. The promotion must go on where it
// was (nothing of it created again, no second cutover), the pointer must not move before the approval
// and the store are both there, and each cutover is said once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imagesFor } from "../../../controllers/shared/image.ts";
import { readPointer, type Store } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition as conditionOf, getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import {
  applyObjects,
  awaitCutover,
  embeddingModelEvents,
  renameStoreSecretKey,
  type PromotionOperator,
  startPromotionOperator,
  type PromotionSetup,
  setUpPromotion,
  promoteThroughBootstrap,
} from "./harness.ts";

describe("a promotion awaiting its Manual approval", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator | undefined;
  let store: Store;
  const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const modelEvents = async () =>
    (await embeddingModelEvents(namespace)).map(
      (event) => `${event.reason as string}: ${event.message as string} (x${event.count as number})`,
    );
  const identity = async (resource: string) => {
    const object = await getObject(resource, namespace);
    const metadata = object?.metadata as { uid: string; generation?: number } | undefined;
    return metadata === undefined ? undefined : { uid: metadata.uid, generation: metadata.generation };
  };
  const awaitV2 = async (version: string) =>
    awaitCutover(setup!, version, [(await status()).activeVersion as string, version]);

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-awaiting", () => passing);
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"], { cutover: "Manual", approvedVersion: "v1" });
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await setup?.stop();
  });

  it("goes on across a restart on a new image tag: serving rolled in place, its run kept, approved once", async () => {
    await awaitV2("v2");
    const before = {
      v1: await identity("deployment/jobs-model-v1"),
      v2: await identity("deployment/jobs-model-v2"),
      run: await identity("bootstraprun/jobs-v2-promotion"),
    };
    const eventsBefore = await modelEvents();
    await operator!.stop();
    operator = startPromotionOperator(namespace, () => passing, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.1"),
    });
    await until("both serving Deployments on the new tag", async () =>
      (
        await Promise.all(
          ["v1", "v2"].map(async (version) => {
            const deployment = await getObject(`deployment/jobs-model-${version}`, namespace);
            const spec = (deployment?.spec as Json | undefined)?.template as Json | undefined;
            const containers = ((spec?.spec as Json | undefined)?.containers ?? []) as { image: string }[];
            return containers.every((container) => container.image.endsWith(":0.1.1"));
          }),
        )
      ).every(Boolean),
    );
    await until("v2 AwaitingCutover again", async () => (await phaseOf("v2")) === "AwaitingCutover");
    expect(await identity("deployment/jobs-model-v1")).toEqual({
      ...before.v1,
      generation: before.v1!.generation! + 1,
    });
    expect(await identity("deployment/jobs-model-v2")).toEqual({
      ...before.v2,
      generation: before.v2!.generation! + 1,
    });
    expect(await identity("bootstraprun/jobs-v2-promotion")).toEqual(before.run);
    expect((await readPointer(store)).current).toBe("v1");
    // Nothing of v2's promotion was done again: no phase before AwaitingCutover said anew, no cutover.
    const added = (await modelEvents()).filter((event) => !eventsBefore.includes(event));
    expect(added.filter((event) => /^(Bootstrapping|CatchingUp|Promoted|Active):/.test(event))).toEqual([]);

    await applyObjects(namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect((await readPointer(store)).current).toBe("v2");
    const promoted = (await modelEvents()).filter(
      (event) => event.startsWith("Promoted:") && event.includes("to v2"),
    );
    expect(promoted).toHaveLength(1);
  });

  it("holds the approval while the store Secret's key is renamed, says so, and flips once it is back", async () => {
    await awaitV2("v3");
    await renameStoreSecretKey(namespace, "url", "address");
    await applyObjects(namespace, [modelAt("v3", { cutover: "Manual", approvedVersion: "v3" })]);
    await until("the model Stalled on the missing key", async () => {
      const stalled = conditionOf(await model(), "Stalled");
      return stalled?.status === "True" && stalled.reason === "SecretKeyNotFound";
    });
    expect(conditionOf(await model(), "Stalled")?.message).toContain("has no key url");
    expect((await readPointer(store)).current).toBe("v2");
    expect(await phaseOf("v3")).toBe("AwaitingCutover");
    await renameStoreSecretKey(namespace, "address", "url");
    await until("v3 active", async () => (await status()).activeVersion === "v3", 60_000);
    expect((await readPointer(store)).current).toBe("v3");
    expect(conditionOf(await model(), "Stalled")?.status).toBe("False");
    const events = await modelEvents();
    expect(events.filter((event) => event.startsWith("Promoted:") && event.includes("to v3"))).toHaveLength(
      1,
    );
    expect(events.filter((event) => event.startsWith("SecretKeyNotFound:"))).toHaveLength(1);
  });
});
