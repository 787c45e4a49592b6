/**
 * A pipeline whose store is the testbed's Redis Cluster (spec.sinks.store.cluster: true, the store
 * Secret holding the seed nodes), end to end on the local nodes where pods really run: `jude operator`
 * (a real process) serves v1, bootstraps it with real shards from a two-partition changelog, flips the
 * Cluster's pointer; real nearline workers bring live Kafka events into v1 on the Cluster, under the
 * documented layout (`{jude:<store>:<bucket>}:v:<version>:d`, field `<entity>:<id>`); then v2 (the
 * int8 model, another digest) is bootstrapped, caught up, parity-checked through its Service and
 * flipped on the Cluster, the live events in v2 under v2's digest. Nothing of the store reaches the
 * testbed's standalone Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bucketKeys,
  connectRedis,
  createLayout,
  bucketOf,
  defaultPrefix,
  isCluster,
  readPointer,
  recordField,
  type RedisClient,
  type Store,
  type StoreReader,
} from "../../store/index.ts";
import { condition, getObject, type Json } from "../integration/operator/operator-harness.ts";
import { requireEnv } from "../support/env.ts";
import { produceEvents } from "../support/kafka.ts";
import { waitFor } from "../testbed/wait.ts";
import { applyAll } from "./support/namespace.ts";
import type { OperatorProcess } from "./support/operator-process.ts";
import { startPromotionScene, stopPromotionScene } from "./support/promotion-scene.ts";
import { jobEvent, promotionModel } from "./support/promotion-objects.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `promotion-cluster-e2e-${suffix}`;
const storeName = `promotion-cluster-e2e-${suffix}`;
const snapshotIds = Array.from({ length: 16 }, (_, index) => `snap-${index}`);
const liveIds = Array.from({ length: 6 }, (_, index) => `live-${index}`);

let operator: OperatorProcess | undefined;
let removeNamespace: (() => Promise<void>) | undefined;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;
let topic: string;
const digests = new Map<string, string>();

const eventually = (description: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
  waitFor(description, check, { timeoutMs, intervalMs: 500 });

function modelAt(version: "v1" | "v2"): Json {
  const object = promotionModel(namespace, version, { bakeSeconds: 1, maxLagSeconds: 120 });
  digests.set(version, `sha256:${((object.spec as Json).model as Json).sha256 as string}`);
  return object;
}

const model = async () => (await getObject("embeddingmodel/minilm", namespace))!;
const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
const phaseOf = async (version: string) =>
  (await status()).versions?.find((entry) => entry.version === version)?.phase as string | undefined;

/** Whether every id's vector is in `version`, read through the reader, under that version's digest. */
async function allIn(version: string, ids: readonly string[]): Promise<boolean> {
  const hits = await reader.getMany("job", ids, { version });
  return hits.every((hit) => hit?.version === version && hit.modelDigest === digests.get(version));
}

/** The raw layout: each id's data field in its bucket's `d` hash of `version`, on the Cluster. */
async function dataFieldsPresent(version: string, ids: readonly string[]): Promise<boolean[]> {
  const layout = createLayout(defaultPrefix(storeName));
  return Promise.all(
    ids.map(async (id) => {
      const field = recordField("job", id);
      const key = bucketKeys(layout, version, bucketOf(layout, field)).data;
      expect(key).toMatch(new RegExp(`^\\{jude:${storeName}:\\d+\\}:v:${version}:d$`));
      return (await redis.hexists(key, field)) === 1;
    }),
  );
}

beforeAll(async () => {
  ({ topic, redis, store, reader, operator, removeNamespace } = await startPromotionScene({
    namespace,
    topicPrefix: "promotion-cluster-e2e-jobs",
    storeName,
    snapshotIds,
    firstModel: modelAt("v1"),
    cluster: true,
  }));
}, 120_000);

afterAll(async () => {
  await stopPromotionScene({ operator, reader, redis, removeNamespace });
});

describe("a Redis Cluster store with real workers and shards on the local nodes", () => {
  it("bootstraps v1 into the Cluster with real shards and flips its pointer there", async () => {
    expect(isCluster(redis)).toBe(true);
    await eventually("v1 active", async () => {
      if ((await phaseOf("v1")) === "Failed") throw new Error(JSON.stringify((await model()).status));
      return (await status()).activeVersion === "v1";
    });
    expect(await readPointer(store)).toMatchObject({ current: "v1" });
    const run = await getObject("bootstraprun/jobs-v1-promotion", namespace);
    expect((run?.status as Json).phase).toBe("Succeeded");
    expect(await allIn("v1", snapshotIds)).toBe(true);
    expect(await dataFieldsPresent("v1", snapshotIds)).toEqual(snapshotIds.map(() => true));
  });

  it("brings live events into v1 on the Cluster through the real workers", async () => {
    await produceEvents(
      topic,
      liveIds.map((id, index) => jobEvent(id, 100 + index, `Live role ${index}`)),
    );
    await eventually("live events in v1", () => allIn("v1", liveIds));
    expect(await dataFieldsPresent("v1", liveIds)).toEqual(liveIds.map(() => true));
  });

  it("promotes v2 on the Cluster: bootstrapped, caught up, parity-checked and flipped", async () => {
    await applyAll(namespace, [modelAt("v2")]);
    await eventually("v2 active", async () => {
      if ((await phaseOf("v2")) === "Failed") throw new Error(JSON.stringify((await model()).status));
      return (await status()).activeVersion === "v2";
    });
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    expect(condition(await model(), "ParityPassed")?.status).toBe("True");
    expect(await allIn("v2", [...snapshotIds, ...liveIds])).toBe(true);
    expect(await dataFieldsPresent("v2", liveIds)).toEqual(liveIds.map(() => true));
    // Readers through the pointer now get v2.
    const hits = await reader.getMany("job", liveIds);
    expect(hits.every((hit) => hit?.version === "v2")).toBe(true);
  });

  it("leaves nothing of the store on the standalone Redis", async () => {
    const standalone = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
    try {
      expect(await standalone.exists(`{jude:${storeName}}:ptr`, `{jude:${storeName}}:meta`)).toBe(0);
    } finally {
      await standalone.quit();
    }
  });
});
