// Reverts of spec.version on the testbed's API server and Redis: v1 -> v2 -> v1 must leave nothing of
// v2 behind (objects, run, its shards' checkpoints, and every bucket of its partial vectors, although
// a model back on its active version has no promotion left to poll for); v1 -> v2 -> v1 -> v2 must
// wait until the earlier build of v2 is collected (no run or workers writing into a version being
// deleted), then build v2 anew; a rollback to a collected version bootstraps it with a new run; a revert
// that lands while the reconcile about to flip is measuring parity does not flip to the reverted version.
// Bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import {
  heldWriterPod,
  heldWriterPodName,
  promotionIds as ids,
  promotionModelAt as modelAt,
  versionDigest as hex,
} from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  conditionOf,
  writeVectors,
  type PromotionSetup,
  setUpPromotion,
  promoteThroughBootstrap,
} from "./harness.ts";

describe("spec.version reverted before the cutover", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;
  // Parity answers at once unless a test holds it; `measured` lists the versions asked for.
  let parityHold: Promise<void> | undefined;
  const measured: string[] = [];

  const status = async () =>
    ((await getObject("embeddingmodel/jobs-model", namespace)) as Json).status as Json & {
      activeVersion?: string;
    };
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const run = (version: string) => getObject(`bootstraprun/jobs-${version}-promotion`, namespace);
  const uid = (object: Json | undefined) => (object?.metadata as Json | undefined)?.uid as string | undefined;
  const v2Checkpoint = () => checkpointKey(store.layout.prefix, { namespace, name: "jobs-v2-promotion" }, 0);
  const v2State = async () => (await getVersion(store, "v2"))?.state;
  const v2Objects = () =>
    Promise.all([
      getObject("deployment/jobs-model-v2", namespace),
      getObject("configmap/jobs-model-v2-record", namespace),
      getObject("bootstraprun/jobs-v2-promotion", namespace),
    ]);
  /** v2 promoted until its run exists, some partial vectors written, then spec.version back to v1. */
  async function startV2ThenRevert() {
    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids.slice(0, 4));
    // Shard 0 finished (its checkpoint says done); a later run of v2 of the same name and snapshot
    // would resume it and write nothing, after v2's vectors were collected.
    await store.client.hset(v2Checkpoint(), { phase: "done", attempt: "1" });
    await applyObjects(namespace, [modelAt("v1")]);
  }

  beforeAll(async () => {
    // 2048 buckets: eight bounded collection steps, most of them a collection poll apart (1 s here,
    // --collection-poll-seconds; 5 s in production).
    const parity = async (version: string) => {
      measured.push(version);
      await parityHold;
      return { sampled: 4, matched: 4, minCosine: 0.99999 };
    };
    setup = await setUpPromotion("promotion-revert", parity, {
      buckets: 2048,
      settings: { collectionPollMs: 1_000 },
    });
    ({ namespace, store } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("v1 -> v2 -> v1 removes v2's objects and collects every bucket of its partial vectors", async () => {
    await startV2ThenRevert();
    await until("v2's objects removed", async () =>
      (await v2Objects()).every((object) => object === undefined),
    );
    // Collection goes a bounded step per reconcile; nothing but the controller's own poll wakes it now.
    await until("v2's vectors collected", async () => (await v2State()) === undefined, 60_000);
    expect(await store.client.exists(v2Checkpoint()), "the superseded run's checkpoint").toBe(0);
    expect(await readPointer(store)).toMatchObject({ current: "v1" });
    expect((await status()).activeVersion).toBe("v1");
  });

  it("v1 -> v2 -> v1 -> v2 while v2 is being collected: nothing writes into it, then v2 is built anew", async () => {
    // Held until the revert's own reconciles are over: they would collect v2 before the test looked.
    await applyObjects(namespace, [heldWriterPod("jobs-model", "v2")]);
    await startV2ThenRevert();
    await until("v2's objects removed", async () =>
      (await v2Objects()).every((object) => object === undefined),
    );
    expect(await v2State(), "collection waits for the writer").toBe("building");
    await kubectl(["delete", "pod", "-n", namespace, heldWriterPodName("jobs-model", "v2"), "--wait=true"]);
    await until("v2 being collected", async () => (await v2State()) === "deleting");
    await applyObjects(namespace, [modelAt("v2")]);
    // Until the earlier build is gone, a new run or workers would write into a version being deleted.
    const violations: string[] = [];
    await until("v2's earlier build collected", async () => {
      const [run, record] = await Promise.all([
        getObject("bootstraprun/jobs-v2-promotion", namespace),
        getObject("configmap/jobs-model-v2-record", namespace),
      ]);
      // Read after the objects: still deleting then means they existed while it was (read together,
      // a run created the moment collection finished could be paired with the state read before).
      const state = await v2State();
      if (state === "deleting" && run !== undefined) violations.push("a BootstrapRun of v2 while deleting");
      if (state === "deleting" && (record?.data as Json | undefined)?.workers === "true")
        violations.push("v2's workers wanted while deleting");
      return state === undefined;
    });
    expect([...new Set(violations)]).toEqual([]);
    await until(
      "v2's new run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
  });

  it("rolls back to v1 after its vectors were collected: a new run bootstraps it, then it is promoted", async () => {
    const shortLived = { bakeSeconds: 1, retainVersions: 0 };
    await applyObjects(namespace, [modelAt("v3", shortLived)]);
    await until("v3's run", async () => (await run("v3")) !== undefined);
    await buildVersion(store, namespace, "v3", ["v2", "v3"]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    // v2 is the pointer's backup; v1, beyond retainVersions 0, is collected. Its first run stays.
    await until("v1's vectors collected", async () => (await getVersion(store, "v1")) === null);
    const firstRun = uid(await run("v1"));
    expect(firstRun).toBeDefined();

    await applyObjects(namespace, [modelAt("v1", shortLived)]);
    await until("RolledBack says v1's vectors were collected", async () => {
      const rolledBack = conditionOf(
        (await getObject("embeddingmodel/jobs-model", namespace))!,
        "RolledBack",
      );
      return rolledBack?.reason === "VectorsCollected";
    });
    // The first run's Succeeded says nothing about the vectors now in the store.
    await until("a new run of v1", async () => {
      const next = uid(await run("v1"));
      return next !== undefined && next !== firstRun;
    });
    expect((await readPointer(store)).current).toBe("v3");
    await buildVersion(store, namespace, "v1", ["v3", "v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    expect(await readPointer(store)).toMatchObject({ current: "v1", backup: "v3" });
  });

  it("a revert while the flip's parity is measured does not flip to the reverted version", async () => {
    await until(
      "v1 settled",
      async () =>
        conditionOf((await getObject("embeddingmodel/jobs-model", namespace))!, "Ready")?.status === "True",
    );
    const before = await readPointer(store);
    expect(before.current).toBe("v1");
    let release!: () => void;
    parityHold = new Promise((resolve) => (release = resolve));
    try {
      await applyObjects(namespace, [modelAt("v4")]);
      await until("v4's run", async () => (await run("v4")) !== undefined);
      await buildVersion(store, namespace, "v4", ["v1", "v4"]);
      // Every gate but parity is open: the reconcile measuring it flips next, unless the spec moved.
      await until("v4's parity being measured", async () => measured.includes("v4"));
      await applyObjects(namespace, [modelAt("v1")]);
    } finally {
      parityHold = undefined;
      release();
    }
    await until("the revert to v1 reconciled", async () => {
      const model = (await getObject("embeddingmodel/jobs-model", namespace))!;
      const generation = (model.metadata as Json).generation;
      return (
        (model.status as Json | undefined)?.observedGeneration === generation &&
        conditionOf(model, "Ready")?.status === "True"
      );
    });
    // Before the fix the pointer went to v4 and straight back (epoch + 2): readers saw a version the
    // user had already reverted, and v4 stayed served through the bake as a version that was live.
    expect(await readPointer(store)).toMatchObject({ current: "v1", epoch: before.epoch });
    await until("v4's objects removed", async () =>
      (
        await Promise.all([
          getObject("deployment/jobs-model-v4", namespace),
          getObject("configmap/jobs-model-v4-record", namespace),
          getObject("bootstraprun/jobs-v4-promotion", namespace),
        ])
      ).every((object) => object === undefined),
    );
    expect((await status()).activeVersion).toBe("v1");
  });
});
