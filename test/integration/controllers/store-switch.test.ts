// A promoted model whose NearlinePipelines are pointed at another store (spec.sinks.store.name), on the
// testbed's API server and Redis: a newer pipeline naming another store must not move the model (the
// pipeline controller stalls that pipeline and keeps the older one's store), and a move of the model's
// pipelines, during a promotion or at rest, must keep the query Service on the version readers use
// until the new store has a current version, say so (StoreChanged, not StoreDataLost), rebuild into the
// new store, and leave the old store's keys as they are.
// The bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import type { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listVersions, readOwner, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  openTestStore,
  promoteThroughBootstrap,
  setUpPromotion,
  type PromotionSetup,
} from "./harness.ts";

describe("a model whose pipelines name another store", () => {
  let setup: PromotionSetup | undefined;
  let other: { store: Store; close: () => void } | undefined;
  let otherName: string;
  let third: { store: Store; close: () => void } | undefined;
  let thirdName: string;

  const model = async () => (await getObject("embeddingmodel/jobs-model", setup!.namespace)) as Json;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", setup!.namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const reconciles = async (registry: Registry) =>
    ((await registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values ?? [])
      .filter((value) => value.labels.controller === "embedding-model")
      .reduce((sum, value) => sum + value.value, 0);
  /** The `jobs` pipeline as set up, writing to store `name` (under another object name when given). */
  const jobsPipelineOn = (name: string, objectName?: string): Json => {
    const copy = structuredClone(setup!.jobsPipeline) as Json;
    if (objectName !== undefined) (copy.metadata as Json).name = objectName;
    const sinks = (copy.spec as Json).sinks as Json;
    sinks.store = { ...(sinks.store as Json), name };
    return copy;
  };

  beforeAll(async () => {
    setup = await setUpPromotion("store-switch", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    otherName = `${setup.storeName}-b`;
    thirdName = `${setup.storeName}-c`;
    other = await openTestStore(otherName);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
    await promoteThroughBootstrap(setup, "v2", ["v1", "v2"]);
  }, 240_000);

  afterAll(async () => {
    // The operator first: a reconcile after the cleanup would claim a store again.
    await setup?.operator.stop();
    if (third !== undefined) {
      await deleteKeysWithPrefix(third.store.client, thirdName);
      third.close();
    }
    if (other !== undefined) {
      await deleteKeysWithPrefix(other.store.client, otherName);
      other.close();
    }
    if (setup !== undefined) await deleteKeysWithPrefix(setup.store.client, setup.storeName);
    await setup?.stop();
  });

  it("keeps the store of its oldest pipeline when a newer one names another store", async () => {
    const { namespace, store, operator } = setup!;
    // Newer than `jobs`, but first by name: the pipeline controller stalls it and keeps `jobs` running.
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    const before = await reconciles(operator.registry);
    await applyObjects(namespace, [jobsPipelineOn(otherName, "aaa-jobs")]);
    // The pipeline's creation wakes the model (its controller watches pipelines).
    await until(
      "the model reconciled with the new pipeline",
      async () => (await reconciles(operator.registry)) > before,
    );

    expect(condition(await model(), "Ready")).toMatchObject({ status: "True", reason: "Promoted" });
    expect((await model()).status).toMatchObject({ activeVersion: "v2" });
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    // The model neither claimed the other store nor started rebuilding v2 into it.
    expect(await readOwner(other!.store)).toBeUndefined();
    expect(await getObject("bootstraprun/aaa-jobs-v2-promotion", namespace)).toBeUndefined();
    expect((await getObject("bootstraprun/jobs-v2-promotion", namespace))?.status).toMatchObject({
      phase: "Succeeded",
    });

    await kubectl(["delete", "-n", namespace, "nearlinepipeline/aaa-jobs", "--wait=true"]);
  }, 120_000);

  it("moved during a promotion: readers keep their version until the new store has one", async () => {
    const { namespace, store, storeName } = setup!;
    await applyObjects(namespace, [promotionModelAt("v3")]);
    await until(
      "v3's run",
      async () => (await getObject("bootstraprun/jobs-v3-promotion", namespace)) !== undefined,
    );

    await applyObjects(namespace, [jobsPipelineOn(otherName)]);
    await until(
      "the model says its store changed",
      async () => condition(await model(), "Ready")?.reason === "StoreChanged",
    );
    const ready = condition(await model(), "Ready");
    expect(ready).toMatchObject({ status: "False" });
    expect(String(ready?.message)).toContain(`store ${otherName}`);
    expect(String(ready?.message)).toContain(`store ${storeName}`);
    expect(condition(await model(), "RolledBack")?.reason).not.toBe("StoreDataLost");
    // Readers of the old store still use v2's vectors: the query encoder stays v2's, and status says so.
    expect(await querySelector()).toBe("v2");
    expect((await model()).status).toMatchObject({ activeVersion: "v2" });
    expect(((await model()).status as Json).versions).toEqual(
      expect.arrayContaining([expect.objectContaining({ version: "v2", phase: "Active" })]),
    );
    // The old store is left as it was.
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    expect(Object.fromEntries((await listVersions(store)).map((info) => [info.version, info.state]))).toEqual(
      {
        v1: "complete",
        v2: "complete",
      },
    );

    // v3 is built into the new store (played), flipped there, and the query Service follows.
    await buildVersion(other!.store, namespace, "v3", ["v3"]);
    await until(
      "pointer of the new store on v3",
      async () => (await readPointer(other!.store)).current === "v3",
    );
    await until("query Service on v3", async () => (await querySelector()) === "v3");
    await until("Ready on v3", async () => condition(await model(), "Ready")?.status === "True");
    expect((await model()).status).toMatchObject({ activeVersion: "v3" });
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
  }, 240_000);

  it("moved at rest: the active version is rebuilt into the new store, not reported lost", async () => {
    const { namespace } = setup!;
    third = await openTestStore(thirdName);
    const before = await getObject("bootstraprun/jobs-v3-promotion", namespace);
    await applyObjects(namespace, [jobsPipelineOn(thirdName)]);
    await until(
      "the model says its store changed",
      async () => condition(await model(), "Ready")?.reason === "StoreChanged",
    );
    expect(String(condition(await model(), "Ready")?.message)).toContain(`version v3, the one readers used`);
    expect(await querySelector()).toBe("v3");
    // v3's first run filled the old store: a new one is made for the new store.
    await until("a new run of v3", async () => {
      const run = await getObject("bootstraprun/jobs-v3-promotion", namespace);
      return run !== undefined && (run.metadata as Json).uid !== (before!.metadata as Json).uid;
    });
    await buildVersion(third.store, namespace, "v3", ["v3"]);
    await until(
      "pointer of the third store on v3",
      async () => (await readPointer(third!.store)).current === "v3",
    );
    await until("Ready on v3", async () => condition(await model(), "Ready")?.status === "True");
    expect(condition(await model(), "RolledBack")?.reason).not.toBe("StoreDataLost");
    expect(await readPointer(other!.store)).toMatchObject({ current: "v3" });
    // Each move said once, as a Normal Event naming its new store; nothing reported a loss.
    const events = await kubectl([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector=involvedObject.kind=EmbeddingModel",
      "-o",
      "jsonpath={range .items[*]}{.type}|{.reason}|{.count}|{.message}{'\\n'}{end}",
    ]);
    const said = events
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [type, reason, count, ...message] = line.split("|");
        return { type, reason, count: Number(count), message: message.join("|") };
      });
    const moves = said.filter((event) => event.reason === "StoreChanged");
    expect(moves.map((event) => [event.type, event.count])).toEqual([
      ["Normal", 1],
      ["Normal", 1],
    ]);
    expect(moves.map((event) => /now write to store (\S+),/.exec(event.message)?.[1]).sort()).toEqual(
      [otherName, thirdName].sort(),
    );
    // Each phase change said once: a reconcile woken before the watch brought the previous one's
    // status write does not announce its transitions again.
    const phaseChanges = said.filter((event) => /^version \S+: \S+ -> /.test(event.message));
    expect(phaseChanges.filter((event) => event.count !== 1)).toEqual([]);
    expect(said.map((event) => event.reason)).not.toContain("StoreDataLost");
  }, 240_000);

  it("moved back to its first store: the pointer left there is not followed", async () => {
    const { namespace, store, storeName } = setup!;
    const before = await getObject("bootstraprun/jobs-v3-promotion", namespace);
    await applyObjects(namespace, [setup!.jobsPipeline]);
    await until("the model says its store changed", async () =>
      String(condition(await model(), "Ready")?.message).includes(`store ${storeName},`),
    );
    const ready = condition(await model(), "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "StoreChanged" });
    expect(String(ready?.message)).toContain(`store ${storeName}, which still names version v2`);
    // Readers use v3 (in the third store): neither the query Service nor the status goes back to v2,
    // whose vectors in the first store stopped being updated when the pipelines left it.
    expect(await querySelector()).toBe("v3");
    expect((await model()).status).toMatchObject({ activeVersion: "v3" });
    expect(await readPointer(store)).toMatchObject({ current: "v2" });
    await until("a new run of v3", async () => {
      const run = await getObject("bootstraprun/jobs-v3-promotion", namespace);
      return run !== undefined && (run.metadata as Json).uid !== (before!.metadata as Json).uid;
    });
    await buildVersion(store, namespace, "v3", ["v3"]);
    await until("pointer of the first store on v3", async () => (await readPointer(store)).current === "v3");
    await until("Ready on v3", async () => condition(await model(), "Ready")?.status === "True");
    expect(await querySelector()).toBe("v3");
  }, 240_000);
});
