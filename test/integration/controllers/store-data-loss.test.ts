// A promoted model at rest whose store's Redis loses its data (restarted without persistence, flushed,
// failed over to an empty replica): pointer, registry and vectors gone while readers and the active
// version's nearline workers keep running. The loss is played by deleting every key of the test's own
// store on the testbed's Redis (never FLUSHALL: other suites share it); a worker's write after it, the
// bootstrap shards and the worker lag are played by the test, as in promotion.test.ts.
import { describe, expect, it } from "vitest";
import { readPointer, StoreReader, StoreWriter } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { condition, getObject, waitUntilAtRest } from "../operator/operator-harness.ts";
import { versionDigest } from "./objects.ts";
import { buildVersion, promoteThroughBootstrap, startPromotion } from "./harness.ts";
import { modelResyncMs, rebuildLostVersion, storeLossSuite } from "./store-loss.ts";

describe("a promoted model whose store lost its data", () => {
  const suite = storeLossSuite("store-data-loss", ["v1", "v2"]);
  const { model, until, querySelector } = suite;

  it("says so, rebuilds the version, and readers that saw the old pointer follow the next promotion", async () => {
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 6_000);
    // A ranking service that has been reading since before the loss.
    suite.reader = await StoreReader.open(suite.store, { refreshIntervalMs: 200 });
    expect(suite.reader.pointer).toMatchObject({ current: "v2", epoch: 2 });

    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    // v2's workers keep writing: their writer was opened before the loss.
    await new StoreWriter(suite.store).write([
      {
        kind: "upsert",
        entity: "job",
        id: "j1",
        version: "v2",
        eventTimeMs: 5_000,
        offset: 50,
        partition: 0,
        vector: [0.5, 0.5, 0.5, 0.5],
        modelDigest: `sha256:${versionDigest("v2")}`,
        contentHash: "h-j1",
      },
    ]);

    // Found within one resync (nothing in the cluster changed), and said where users look first.
    await until(
      "Ready says the store lost its data",
      async () => {
        const ready = condition(await model(), "Ready");
        return ready?.reason === "StoreDataLost" && String(ready.message).includes("jobs-v2-promotion");
      },
      modelResyncMs + 15_000,
    );
    const ready = condition(await model(), "Ready");
    expect(ready).toMatchObject({ status: "False" });
    expect(String(ready?.message)).toMatch(/the store lost version v2, the active one/);
    expect(condition(await model(), "Reconciling")).toMatchObject({
      status: "True",
      reason: "StoreDataLost",
    });
    const warnings = await kubectl([
      "get",
      "events",
      "-n",
      suite.namespace,
      "--field-selector=type=Warning,reason=StoreDataLost",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    expect(warnings).toMatch(/lost version v2/);
    // Readers have no vectors until the rebuild is done (hours for a large changelog): whoever is on
    // call learns it from a metric the chart alerts on (JudeStoreDataLost), not from an Event only.
    const lostSeries = `jude_promotion_store_data_lost{namespace="${suite.namespace}",model="jobs-model",version="v2"}`;
    expect(await suite.operator.registry.metrics()).toContain(`${lostSeries} 1`);

    // The rebuild: the operator's new run for v2, played here, then the flip back to v2.
    await rebuildLostVersion(suite.store, suite.namespace, "v2", ["v1", "v2"]);
    expect(await suite.operator.registry.metrics()).toContain(`${lostSeries} 0`);

    // Readers keep the pointer with the highest epoch they saw: the rebuilt pointer must not start over
    // below it, or a reader from before the loss ignores the next flips and looks up v2's vectors
    // while the query Service encodes with v3.
    await promoteThroughBootstrap(suite.setup, "v3", ["v2", "v3"]).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(condition(await model(), "Ready"))}`);
    });
    expect(await querySelector()).toBe("v3");
    await until("the reader follows to v3", async () => suite.reader!.pointer.current === "v3", 10_000);
  }, 420_000);
  // The loss in the middle of a promotion (v4 bootstrapping, v3 active): readers running since before
  // keep v3's pointer and get what v3's workers write after the loss, so the query Service must stay
  // on v3's encoder, and the status must say the store lost v3.
  it("keeps the query Service on the active version when the store loses it mid-promotion", async () => {
    await startPromotion(suite.namespace, "v4");
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 3_000);
    await deleteKeysWithPrefix(suite.store.client, suite.setup.storeName);
    await until(
      "Ready says the store lost v3",
      async () => condition(await model(), "Ready")?.reason === "StoreDataLost",
      modelResyncMs + 15_000,
    );
    expect(String(condition(await model(), "Ready")?.message)).toMatch(
      /the store lost version v3, the active one .* until version v4, whose promotion goes on, is switched to \(the query Service stays on version v3's encoder meanwhile\)/,
    );
    // The metric names the version readers lost (v3), not the candidate.
    expect(await suite.operator.registry.metrics()).toContain(
      `jude_promotion_store_data_lost{namespace="${suite.namespace}",model="jobs-model",version="v3"} 1`,
    );
    // Before: the query Service moved to v4, whose gates had not passed.
    await waitUntilAtRest(suite.operator.registry, "embedding-model", 3_000);
    expect(await querySelector()).toBe("v3");
    expect(await getObject("deployment/jobs-model-v3", suite.namespace)).toBeDefined();

    await buildVersion(suite.store, suite.namespace, "v4", ["v3", "v4"]);
    await until("pointer on v4", async () => (await readPointer(suite.store)).current === "v4");
    await until("query Service on v4", async () => (await querySelector()) === "v4");
    await until("the reader follows to v4", async () => suite.reader!.pointer.current === "v4");
  }, 240_000);
});
