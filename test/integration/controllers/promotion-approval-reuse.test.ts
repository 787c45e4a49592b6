// An approval counts only for the build it was given for (README "Manual cutover"), on the testbed's
// API server and Redis. v2 approved while it built, then superseded by v3 (its record and vectors
// collected) and named again with approvedVersion left as it was: the new build of v2 waits
// (ApprovalPredatesBuild) instead of cutting over on the approval given for the old one. Removed and
// set again, the approval counts; set in the same commit as spec.version (v1 here), it counts at once;
// set before spec.version names its version (v4), it counts for that version's first build.
// Removed while the model is Stalled before deciding (its store Secret gone), the approval is forgotten too.
// Bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { kubectl } from "../../support/kubectl.ts";
import { promotionModelAt as modelAt, storeSecret } from "./objects.ts";
import { applyObjects, buildVersion, conditionOf, type PromotionSetup, setUpPromotion } from "./harness.ts";

describe("an approval given for an earlier build of the same version name", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };
  const manual = (approvedVersion?: string) => ({
    cutover: "Manual",
    ...(approvedVersion !== undefined ? { approvedVersion } : {}),
  });

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace))!;
  const status = async () =>
    ((await model()).status ?? {}) as Json & { activeVersion?: string; approval?: Json };
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const runOf = (version: string) => getObject(`bootstraprun/jobs-${version}-promotion`, namespace);

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-approval", () => passing);
    ({ namespace, store } = setup);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("counts one set in the same commit as spec.version", async () => {
    await applyObjects(namespace, [modelAt("v1", manual("v1"))]);
    await until("v1's run", async () => (await runOf("v1")) !== undefined);
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    expect((await status()).approval).toMatchObject({ version: "v1" });
  });

  it("waits for a new approval when the version's name is built again, then cuts over on it", async () => {
    await applyObjects(namespace, [modelAt("v2", manual("v2"))]);
    await until("v2's run", async () => (await runOf("v2")) !== undefined);
    // Superseded before its cutover, the approval left on v2 (a Git commit changing spec.version only).
    await applyObjects(namespace, [modelAt("v3", manual("v2"))]);
    await until(
      "v2's record and run removed",
      async () =>
        (await getObject("configmap/jobs-model-v2-record", namespace)) === undefined &&
        (await runOf("v2")) === undefined,
    );

    await applyObjects(namespace, [modelAt("v2", manual("v2"))]);
    await until("v2's new run", async () => (await runOf("v2")) !== undefined);
    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until(
      "v2's gates passed and the old approval refused",
      async () => conditionOf(await model(), "Ready")?.reason === "ApprovalPredatesBuild",
    );
    expect(conditionOf(await model(), "Ready")?.message).toMatch(
      /^every gate of version v2 passed, but spec\.promotion\.approvedVersion v2 was given \(.*\) for the build of v2 that started .*, not this one \(started .*\), and cutover Manual waits for an approval of this build; .*; version v1 keeps serving$/,
    );
    expect((await status()).activeVersion).toBe("v1");
    expect((await readPointer(store)).current).toBe("v1");
    expect((await getVersion(store, "v2"))?.state).toBe("complete");

    // Approved again, as the message says: removed, seen removed, set again.
    await applyObjects(namespace, [modelAt("v2", manual())]);
    await until("the approval forgotten", async () => (await status()).approval === undefined);
    await applyObjects(namespace, [modelAt("v2", manual("v2"))]);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
  });

  // Was (the rule's first cut): approvedVersion committed before spec.version named the version was
  // refused as given for an earlier build, although v4 had never been built.
  it("counts one committed before spec.version names the version for its first build", async () => {
    await applyObjects(namespace, [modelAt("v2", manual("v4"))]);
    await until("the early approval seen", async () => (await status()).approval?.version === "v4");
    expect((await status()).approval?.build).toBeUndefined();
    await applyObjects(namespace, [modelAt("v4", manual("v4"))]);
    await until("v4's run", async () => (await runOf("v4")) !== undefined);
    await buildVersion(store, namespace, "v4", ["v2", "v4"]);
    await until("v4 active", async () => (await status()).activeVersion === "v4");
    expect((await status()).approval).toMatchObject({ version: "v4", build: expect.any(String) });
    expect(await readPointer(store)).toMatchObject({ current: "v4", backup: "v2" });
  });

  // Was: Stalled before deciding (here its store Secret deleted), the model kept its status as it was,
  // status.approval included, so "remove it and wait until status.approval is gone" waited as long.
  it("forgets an approval removed while the model is Stalled for its missing store Secret", async () => {
    await kubectl(["delete", "secret", "jude-redis", "-n", namespace]);
    await until(
      "Stalled SecretNotFound",
      async () => conditionOf(await model(), "Stalled")?.reason === "SecretNotFound",
    );
    expect((await status()).approval).toMatchObject({ version: "v4" });
    await applyObjects(namespace, [modelAt("v4", manual())]);
    await until("the approval forgotten", async () => (await status()).approval === undefined);
    expect(conditionOf(await model(), "Stalled")).toMatchObject({ status: "True", reason: "SecretNotFound" });
    await applyObjects(namespace, [storeSecret()]);
  });
});
