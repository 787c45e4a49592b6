// A promoted model whose store's Redis comes back from an older snapshot (RDB persistence only, the
// Redis default: a restart loads the last `save`, which may predate the latest flip): the pointer names
// the version that was active then, at its old epoch, and the newer version's registry entry and
// vectors are gone. Played by DUMPing the test's own keys after v1's promotion and RESTOREing them
// (after deleting the test's keys) once v2 is live; never FLUSHALL: other suites share the Redis.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPointer, StoreReader, type Store } from "../../../store/index.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  promoteThroughBootstrap,
  type PromotionOperator,
  type PromotionSetup,
  setUpPromotion,
  startPromotion,
} from "./harness.ts";
import { jobsModel, queriedVersion, rebuildLostVersion } from "./store-loss.ts";

const modelResyncMs = 10_000;

async function snapshot(store: Store, prefix: string): Promise<Array<[string, Buffer]>> {
  const dumps: Array<[string, Buffer]> = [];
  let cursor = "0";
  do {
    const [next, keys] = await store.client.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const dump = await store.client.dumpBuffer(key);
      if (dump !== null) dumps.push([key, dump]);
    }
  } while (cursor !== "0");
  return dumps;
}

describe("a promoted model whose store came back from an older snapshot", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator | undefined;
  let store: Store;
  let reader: StoreReader | undefined;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const model = () => jobsModel(namespace);
  const querySelector = () => queriedVersion(namespace);

  beforeAll(async () => {
    setup = await setUpPromotion("store-rewound", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }), {
      settings: { modelResyncMs },
    });
    ({ namespace, store, operator } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 240_000);

  afterAll(async () => {
    await reader?.close();
    await setup?.stop();
  });

  it("rebuilds the lost version above the epoch readers hold, so they follow the next promotion", async () => {
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    const saved = await snapshot(store, setup!.storeName);
    await promoteThroughBootstrap(setup!, "v2", ["v1", "v2"]);
    await promoteThroughBootstrap(setup!, "v3", ["v2", "v3"]);
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    // A ranking service reading since before the restart.
    reader = await StoreReader.open(store, { refreshIntervalMs: 200 });
    expect(reader.pointer).toMatchObject({ current: "v3", epoch: 3 });

    await deleteKeysWithPrefix(store.client, setup!.storeName);
    for (const [key, dump] of saved) await store.client.restore(key, 0, dump, "REPLACE");
    expect(await readPointer(store)).toMatchObject({ current: "v1", epoch: 1 });

    await until(
      "Ready says the store lost v3",
      async () => condition(await model(), "Ready")?.reason === "StoreDataLost",
      modelResyncMs + 15_000,
    );
    // Readers opened since read v1's vectors: the query Service encodes with v1 meanwhile.
    await until("query Service on v1", async () => (await querySelector()) === "v1");
    expect(await operator!.registry.metrics()).toContain(
      `jude_promotion_store_data_lost{namespace="${namespace}",model="jobs-model",version="v3"} 1`,
    );
    await rebuildLostVersion(store, namespace, "v3", ["v2", "v3"]);

    // The restored pointer counted from epoch 1: a rebuild flip at epoch 2, then v4's at 3, would be
    // ignored by the reader holding epoch 3, left on v3's vectors while the query Service encodes with v4.
    await promoteThroughBootstrap(setup!, "v4", ["v3", "v4"]);
    expect(await querySelector()).toBe("v4");
    await until("the reader follows to v4", async () => reader!.pointer.current === "v4", 10_000);
  }, 300_000);

  // The same restore mid-promotion (v5 bootstrapping, v4 active, readers at v4's epoch): the candidate's
  // cutover is the next switch readers see, so it too must go above their epoch.
  it("switches to a candidate above the epoch readers hold when the store is rewound mid-promotion", async () => {
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    const saved = await snapshot(store, setup!.storeName);
    await promoteThroughBootstrap(setup!, "v5", ["v4", "v5"]);
    await promoteThroughBootstrap(setup!, "v6", ["v5", "v6"]);
    await startPromotion(namespace, "v7");
    await waitUntilAtRest(operator!.registry, "embedding-model", 3_000);
    const held = reader!.pointer.epoch;
    await deleteKeysWithPrefix(store.client, setup!.storeName);
    for (const [key, dump] of saved) await store.client.restore(key, 0, dump, "REPLACE");
    expect((await readPointer(store)).epoch).toBeLessThan(held);
    // The operator takes the restored pointer (v4) as the active version: the query Service follows it.
    await until("query Service on v4", async () => (await querySelector()) === "v4", modelResyncMs + 15_000);
    await buildVersion(store, namespace, "v7", ["v6", "v7"]);
    await until("pointer on v7", async () => (await readPointer(store)).current === "v7");
    await until("query Service on v7", async () => (await querySelector()) === "v7");
    await until("the reader follows to v7", async () => reader!.pointer.current === "v7", 10_000);
  }, 300_000);

  // The restored pointer can name the very version readers use: v7 -> v8, rolled back to v7, and the
  // snapshot predates v8. Nothing looks lost, yet the pointer's epoch is below the one readers hold;
  // status.storeEpoch (the highest epoch the operator wrote) keeps the next cutover above it.
  it("switches above the epoch readers hold when the restored pointer names the version they use", async () => {
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    const saved = await snapshot(store, setup!.storeName);
    await promoteThroughBootstrap(setup!, "v8", ["v7", "v8"]);
    await applyObjects(namespace, [promotionModelAt("v7")]);
    await until("pointer back on v7", async () => (await readPointer(store)).current === "v7");
    await until("the reader back on v7", async () => reader!.pointer.current === "v7", 10_000);
    await waitUntilAtRest(operator!.registry, "embedding-model", 6_000);
    const held = reader!.pointer.epoch;
    expect(((await model()).status as Json | undefined)?.storeEpoch).toBe(held);
    await deleteKeysWithPrefix(store.client, setup!.storeName);
    for (const [key, dump] of saved) await store.client.restore(key, 0, dump, "REPLACE");
    const restored = await readPointer(store);
    expect(restored.current).toBe("v7");
    expect(restored.epoch).toBeLessThan(held - 1);
    // Before: v9's cutover went to the restored epoch + 1, which the reader holding `held` ignored.
    await promoteThroughBootstrap(setup!, "v9", ["v7", "v9"]);
    expect((await readPointer(store)).epoch).toBeGreaterThan(held);
    await until("the reader follows to v9", async () => reader!.pointer.current === "v9", 10_000);
  }, 300_000);
});
