// Two EmbeddingModels naming one store, the second kept off it (StoreConflict), when the store's Redis
// loses its data: the owner record `{P}:owner` goes with the pointer, the registry and the vectors. The
// model kept off must not take the store because it happened to reconcile first (it looks again every
// 10 s, the owner at rest only at its 30 s resync): the owner still names the store, its readers still
// use it, and the store is rebuilt for them. The loss is played by deleting every key of the test's own
// store on the testbed's Redis (never FLUSHALL: other suites share it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import {
  connectRedis,
  flip,
  markVersionComplete,
  openStore,
  readOwner,
  type Store,
} from "../../../store/index.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
} from "../operator/operator-harness.ts";
import { conflictIds as ids, conflictModelAt as modelAt, hex, pipeline, storeSecret } from "./objects.ts";
import {
  applyObjects,
  conditionOf,
  openTestStore,
  startPromotionOperator,
  writeVectors,
  type PromotionOperator,
} from "./harness.ts";

describe("a store two models name, losing its data", () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const owning = `conflict-loss-a-${run}`;
  const contending = `conflict-loss-b-${run}`;
  let operator: PromotionOperator | undefined;
  let store: Store;
  let closeStore: (() => void) | undefined;
  let storeName: string;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };
  const modelA = () => getObject("embeddingmodel/jobs-model", owning);
  const modelB = () => getObject("embeddingmodel/other-model", contending);
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    await installCrds();
    for (const namespace of [owning, contending]) await createRestrictedNamespace(namespace);
    const topic = uniqueTopic("store-conflict-loss");
    await createTopics([topic], 1);
    storeName = `conflict-loss-${run}`;
    ({ store, close: closeStore } = await openTestStore(storeName));
    // What model A built before: a1 complete and current.
    await writeVectors(store, "a1", `sha256:${hex("1")}`, ids);
    await markVersionComplete(store, "a1");
    await flip(store, { expectedCurrent: null, target: "a1" });
    const storeOf = (modelName: string) =>
      pipeline("jobs", topic, (spec) => {
        spec.modelRef = { name: modelName };
        spec.sinks.store.name = storeName;
      });
    await applyObjects(owning, [storeSecret(), storeOf("jobs-model"), modelAt("jobs-model", "a1", "1")]);
    operator = startPromotionOperator([owning, contending], () => passing);
    await until("A owns the store", async () => (await readOwner(store))?.namespace === owning);
    await applyObjects(contending, [
      storeSecret(),
      storeOf("other-model"),
      modelAt("other-model", "b1", "3"),
    ]);
    await until("B kept off", async () => conditionOf(await modelB(), "Ready")?.reason === "StoreConflict");
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    closeStore?.();
    for (const namespace of [owning, contending]) await deleteNamespace(namespace);
  });

  it("stays with the model that owned it: the one kept off does not take it", async () => {
    await deleteKeysWithPrefix(store.client, storeName);
    await until("someone claims the store again", async () => (await readOwner(store)) !== undefined, 60_000);
    // Before: B, looking again every 10 s, claimed the unowned store before A's resync; A then yielded
    // to B (its workers stopped, StoreConflict) and B bootstrapped its own model into A's readers' store.
    expect(await readOwner(store)).toMatchObject({ namespace: owning, name: "jobs-model" });
    await until(
      "A rebuilds a1",
      async () => conditionOf(await modelA(), "Ready")?.reason === "StoreDataLost",
    );
    expect(conditionOf(await modelB(), "Ready")).toMatchObject({ reason: "StoreConflict" });
    expect(String(conditionOf(await modelB(), "Ready")?.message)).toContain(`${owning}/jobs-model`);
    expect(await getObject("bootstraprun/jobs-b1-promotion", contending)).toBeUndefined();
  }, 120_000);

  // The remedy its StoreConflict message and the README give: point the model's pipelines at another
  // store, here another Redis (database 1 of the testbed's) under the same store name. That store is
  // empty, as one that lost its data is, but it is not the one A owns.
  it("lets the model kept off claim the same store name on another Redis", async () => {
    const otherRedis = `${requireEnv("JUDE_REDIS_URL").replace(/\/$/, "")}/1`;
    const other = connectRedis({ url: otherRedis });
    try {
      // As data: server-side apply does not carry a changed stringData into an existing Secret's data.
      const { stringData: _url, ...secret } = storeSecret();
      await applyObjects(contending, [
        { ...secret, data: { url: Buffer.from(otherRedis).toString("base64") } },
      ]);
      // Before: B remembered A for the store name alone, found this store without an owner record and
      // pointer, took it for A's store having lost its data, and kept off it for as long as A exists.
      await until(
        "B claims the store on the other Redis",
        async () => {
          const ready = conditionOf(await modelB(), "Ready");
          const owner = await openStore(other, { name: storeName })
            .then(readOwner)
            .catch((error: unknown) => {
              throw new Error(`B is ${ready?.reason}: ${ready?.message}`, { cause: error });
            });
          if (owner?.name !== "other-model") throw new Error(`B is ${ready?.reason}: ${ready?.message}`);
          return true;
        },
        60_000,
      );
      await until("B no longer kept off", async () => {
        const ready = conditionOf(await modelB(), "Ready");
        return ready !== undefined && ready.reason !== "StoreConflict";
      });
      expect(await readOwner(store)).toMatchObject({ namespace: owning, name: "jobs-model" });
    } finally {
      await operator?.stop();
      operator = undefined;
      await deleteKeysWithPrefix(other, storeName).catch(() => undefined);
      other.disconnect();
    }
  }, 120_000);
});
