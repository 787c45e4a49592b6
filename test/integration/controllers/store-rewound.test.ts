// A promoted model whose store's Redis comes back from an older snapshot (RDB persistence only, the
// Redis default: a restart loads the last `save`, which may predate the latest flip): the pointer names
// the version that was active then, at its old epoch, and the newer version's registry entry and
// vectors are gone. Played by DUMPing the test's own keys after v1's promotion and RESTOREing them
// (after deleting the test's keys) once v2 is live; never FLUSHALL: other suites share the Redis.
import { describe, expect, it } from "vitest";
import { readPointer, StoreReader, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { condition, waitUntilAtRest, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt } from "./objects.ts";
import { applyObjects, buildVersion, promoteThroughBootstrap, startPromotion } from "./harness.ts";
import { modelResyncMs, rebuildLostVersion, storeLossSuite } from "./store-loss.ts";

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
  const suite = storeLossSuite("store-rewound", ["v1"]);
  const { model, until, querySelector } = suite;

  it("rebuilds the lost version above the epoch readers hold, so they follow the next promotion", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const saved = await snapshot(suite.store, suite.setup.storeName);
    await promoteThroughBootstrap(suite.setup, "v2", ["v1", "v2"]);
    await promoteThroughBootstrap(suite.setup, "v3", ["v2", "v3"]);
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    // A ranking service reading since before the restart.
    suite.reader = await StoreReader.open(suite.store, { refreshIntervalMs: 200 });
    expect(suite.reader.pointer).toMatchObject({ current: "v3", epoch: 3 });

    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    for (const [key, dump] of saved) await suite.store.client.restore(key, 0, dump, "REPLACE");
    expect(await readPointer(suite.store)).toMatchObject({ current: "v1", epoch: 1 });

    await until(
      "Ready says the store lost v3",
      async () => condition(await model(), "Ready")?.reason === "StoreDataLost",
      modelResyncMs + 15_000,
    );
    // Said as it is: the pointer is there, on v1 below the epoch readers hold (before: "pointer,
    // registry entry and vectors gone ... readers find no current version").
    const said = String(condition(await model(), "Ready")?.message);
    expect(said).toMatch(
      /the store was rewound .*: its pointer names version v1 at epoch 1, below epoch 3, the highest the operator wrote; version v3, the active one, lost /,
    );
    expect(said).toMatch(/readers opened since read version v1's vectors/);
    expect(said).toMatch(/until version v3 is rebuilt from the changelog, which the operator does now/);
    expect(said).not.toMatch(/readers find no current version/);
    // Readers opened since read v1's vectors: the query Service encodes with v1 meanwhile.
    await until("query Service on v1", async () => (await querySelector()) === "v1");
    expect(await suite.operator.registry.metrics()).toContain(
      `jude_promotion_store_data_lost{namespace="${suite.namespace}",model="jobs-model",version="v3"} 1`,
    );
    await rebuildLostVersion(suite.store, suite.namespace, "v3", ["v2", "v3"]);

    // The restored pointer counted from epoch 1: a rebuild flip at epoch 2, then v4's at 3, would be
    // ignored by the reader holding epoch 3, left on v3's vectors while the query Service encodes with v4.
    await promoteThroughBootstrap(suite.setup, "v4", ["v3", "v4"]);
    expect(await querySelector()).toBe("v4");
    await until("the reader follows to v4", async () => suite.reader!.pointer.current === "v4", 10_000);
  }, 300_000);

  // The same restore mid-promotion (v5 bootstrapping, v4 active, readers at v4's epoch): the candidate's
  // cutover is the next switch readers see, so it too must go above their epoch.
  it("switches to a candidate above the epoch readers hold when the store is rewound mid-promotion", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const saved = await snapshot(suite.store, suite.setup.storeName);
    await promoteThroughBootstrap(suite.setup, "v5", ["v4", "v5"]);
    await promoteThroughBootstrap(suite.setup, "v6", ["v5", "v6"]);
    await startPromotion(suite.namespace, "v7");
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 3_000);
    const held = suite.reader!.pointer.epoch;
    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    for (const [key, dump] of saved) await suite.store.client.restore(key, 0, dump, "REPLACE");
    const restored = await readPointer(suite.store);
    expect(restored).toMatchObject({ current: "v4" });
    expect(restored.epoch).toBeLessThan(held);
    // The operator takes the restored pointer (v4) as the active version: the query Service follows it.
    await until("query Service on v4", async () => (await querySelector()) === "v4", modelResyncMs + 15_000);
    // A pointer below the epoch the operator wrote is lost data, not a hand move (every flip script
    // writes above the epoch it finds): said as a loss of v6, the version readers used (before: Ready
    // said "promoting v7" and no gauge).
    await until(
      "Ready says the store was rewound",
      async () => condition(await model(), "Ready")?.reason === "StoreDataLost",
      modelResyncMs + 15_000,
    );
    expect(String(condition(await model(), "Ready")?.message)).toMatch(
      new RegExp(
        `the store was rewound .*: its pointer names version v4 at epoch ${restored.epoch}, below epoch ${held}, the highest the operator wrote; version v6, the active one, lost .* until version v7, whose promotion goes on, is switched to above epoch ${held}`,
      ),
    );
    const lostSeries = `jude_promotion_store_data_lost{namespace="${suite.namespace}",model="jobs-model",version="v6"}`;
    expect(await suite.operator.registry.metrics()).toContain(`${lostSeries} 1`);
    await buildVersion(suite.store, suite.namespace, "v7", ["v6", "v7"]);
    await until("pointer on v7", async () => (await readPointer(suite.store)).current === "v7");
    await until("query Service on v7", async () => (await querySelector()) === "v7");
    await until("the reader follows to v7", async () => suite.reader!.pointer.current === "v7", 10_000);
    await until("Ready again", async () => condition(await model(), "Ready")?.status === "True");
    expect(await suite.operator.registry.metrics()).not.toContain(`${lostSeries} 1`);
  }, 300_000);

  // The restored pointer can name the very version readers use: v7 -> v8, rolled back to v7, and the
  // snapshot predates v8. Nothing looks lost, yet the pointer's epoch is below the one readers hold;
  // status.storeEpoch (the highest epoch the operator wrote) keeps the next cutover above it.
  it("switches above the epoch readers hold when the restored pointer names the version they use", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const saved = await snapshot(suite.store, suite.setup.storeName);
    await promoteThroughBootstrap(suite.setup, "v8", ["v7", "v8"]);
    await applyObjects(suite.namespace, [promotionModelAt("v7")]);
    await until("pointer back on v7", async () => (await readPointer(suite.store)).current === "v7");
    await until("the reader back on v7", async () => suite.reader!.pointer.current === "v7", 10_000);
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const held = suite.reader!.pointer.epoch;
    expect(((await model()).status as Json | undefined)?.storeEpoch).toBe(held);
    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    for (const [key, dump] of saved) await suite.store.client.restore(key, 0, dump, "REPLACE");
    const restored = await readPointer(suite.store);
    expect(restored.current).toBe("v7");
    expect(restored.epoch).toBeLessThan(held - 1);
    // Before: v9's cutover went to the restored epoch + 1, which the reader holding `held` ignored.
    await promoteThroughBootstrap(suite.setup, "v9", ["v7", "v9"]);
    expect((await readPointer(suite.store)).epoch).toBeGreaterThan(held);
    await until("the reader follows to v9", async () => suite.reader!.pointer.current === "v9", 10_000);
  }, 300_000);

  // Rewound mid-promotion (vb bootstrapping, va active, the pointer back on v9 below the reader's
  // epoch), then spec.version set to v9, the version the restored pointer names: the pointer already
  // names the spec's version, yet readers from before hold va's pointer and ignore the lower epoch.
  it("writes the restored pointer again above the readers' epoch when the spec names its version", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const saved = await snapshot(suite.store, suite.setup.storeName);
    await promoteThroughBootstrap(suite.setup, "va", ["v9", "va"]);
    await startPromotion(suite.namespace, "vb");
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 3_000);
    expect(suite.reader!.pointer.current).toBe("va");
    const held = suite.reader!.pointer.epoch;
    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    for (const [key, dump] of saved) await suite.store.client.restore(key, 0, dump, "REPLACE");
    expect(await readPointer(suite.store)).toMatchObject({ current: "v9" });
    await until(
      "Ready says the store was rewound",
      async () => condition(await model(), "Ready")?.reason === "StoreDataLost",
      modelResyncMs + 15_000,
    );
    await applyObjects(suite.namespace, [promotionModelAt("v9")]);
    // Before: no switch (the pointer names the spec's version), Ready True, the gauge cleared, and the
    // reader left on va's pointer for good (va's workers stopped after the bake, its vectors collected).
    await until(
      "the pointer written again above the reader's epoch",
      async () => (await readPointer(suite.store)).epoch > held,
      modelResyncMs + 15_000,
    );
    expect(await readPointer(suite.store)).toMatchObject({ current: "v9" });
    await until("the reader follows to v9", async () => suite.reader!.pointer.current === "v9", 10_000);
    // Before: "(readers from before held v9's pointer; …)": the status written when the rewind was
    // first seen already named v9 active, the version the restored pointer names.
    await until("the RolledBack Event names the version readers held", async () =>
      /rewound below the epoch readers hold, was written again above it \(readers from before held va's pointer;/.test(
        await kubectl([
          "get",
          "events",
          "-n",
          suite.namespace,
          "--field-selector=type=Normal,reason=RolledBack",
          "-o",
          "jsonpath={.items[*].message}",
        ]),
      ),
    );
    await until("Ready again", async () => condition(await model(), "Ready")?.status === "True");
    expect(await querySelector()).toBe("v9");
    expect(await suite.operator.registry.metrics()).not.toMatch(/jude_promotion_store_data_lost\{[^}]*\} 1/);
  }, 300_000);

  // A replica behind by the last flip only (or a snapshot taken between vc's build and its cutover):
  // the pointer is back on v9 below the reader's epoch, vc still complete in the store. Played by
  // restoring the pointer key alone as it was before vc's promotion.
  it("tells a rewind whose active version stayed complete as lost data, not as a hand move", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const pointerKey = suite.store.keys.pointer;
    const savedPointer = await suite.store.client.dumpBuffer(pointerKey);
    await promoteThroughBootstrap(suite.setup, "vc", ["v9", "vc"]);
    await until("the reader on vc", async () => suite.reader!.pointer.current === "vc", 10_000);
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    const held = suite.reader!.pointer.epoch;
    await suite.store.client.restore(pointerKey, 0, savedPointer!, "REPLACE");
    expect((await readPointer(suite.store)).current).toBe("v9");
    await until(
      "the pointer back on vc above the reader's epoch",
      async () => {
        const pointer = await readPointer(suite.store);
        return pointer.current === "vc" && pointer.epoch > held;
      },
      modelResyncMs + 15_000,
    );
    const events = (reason: string) =>
      kubectl([
        "get",
        "events",
        "-n",
        suite.namespace,
        `--field-selector=type=Warning,reason=${reason}`,
        "-o",
        "jsonpath={.items[*].message}",
      ]);
    // Before: a PointerRestored Warning, "the store pointer named version v9 while the spec and the
    // status name version vc (changed outside the operator)", and nothing about the lost writes.
    await until("the StoreDataLost Event", async () =>
      /version vc, the active one, is still complete in it/.test(await events("StoreDataLost")),
    );
    expect(await events("PointerRestored")).toBe("");
    await until("Ready again", async () => condition(await model(), "Ready")?.status === "True");
  }, 300_000);
});
