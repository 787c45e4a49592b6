/**
 * The operator is the only process that flips a store's pointer and collects old versions, so the
 * jude_store_flips_total and jude_store_gc_keys_deleted_total the README lists must come from its
 * registry: the stores it opens count into it.
 */
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, expect, it } from "vitest";
import { ModelStores } from "../../../controllers/embedding-model/model-store.ts";
import { connectRedis, flip, markVersionComplete, registerVersion } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";

const name = `model-store-metrics-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  const client = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  await deleteKeysWithPrefix(client, name);
  client.disconnect();
});

it("counts the operator's flips in the operator's registry", async () => {
  const registry = new Registry();
  const stores = new ModelStores(registry);
  // A second controller on the same registry (tests run several) shares the metrics.
  const other = new ModelStores(registry);
  try {
    const store = await stores.open(requireEnv("JUDE_REDIS_URL"), name);
    await registerVersion(store, "v1", { modelDigest: "sha256:" + "0".repeat(64), dimension: 4 });
    await markVersionComplete(store, "v1");
    await flip(store, { expectedCurrent: null, target: "v1" });
    expect(await registry.metrics()).toMatch(
      new RegExp(`jude_store_flips_total\\{store="[^"]*${name}",kind="flip",result="[a-z]+"\\} 1`),
    );
  } finally {
    stores.close();
    other.close();
  }
});
