// The operator's kept store connections against a private redis-server that is killed and restarted:
// while a store's connection is down, opening it fails at once with the store's name, its endpoint and
// the connection's error, instead of handing out a store whose every command waits out reconnects
// (a reconcile would hold one of the operator's workers for seconds per command). Once Redis answers
// again, the same kept connection is used. And a store on the testbed's Redis Cluster
// (spec.sinks.store.cluster, the Secret holding the seed nodes) is opened with a cluster client and
// flipped like a standalone one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeConfig } from "@kubernetes/client-node";
import type { NearlinePipeline } from "../../../crds/index.ts";
import {
  ModelStores,
  observeStore,
  openModelStore,
  StoreSecretMissing,
} from "../../../controllers/embedding-model/model-store.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { objectPath, type ResourceType } from "../../../operator/runtime/resource-types.ts";
import type { ObjectKey, ReconcileContext } from "../../../operator/runtime/types.ts";
import {
  connectRedis,
  flip,
  isCluster,
  markVersionComplete,
  openStore,
  parseClusterNodes,
  readPointer,
  registerVersion,
} from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { createRestrictedNamespace, deleteNamespace } from "../operator/operator-harness.ts";
import { startOwnedRedis, type OwnedRedis } from "../store/redis-server.ts";

/** The operator's connections to `admin`'s Redis: all of them, or those to database `db`. */
async function operatorConnections(admin: ReturnType<typeof connectRedis>, db?: number): Promise<number> {
  const list = (await admin.call("CLIENT", "LIST")) as string;
  return list
    .split("\n")
    .filter(
      (line) =>
        line.includes("name=jude-operator-promotion") && (db === undefined || line.includes(` db=${db} `)),
    ).length;
}

/**
 * A private redis-server and an admin connection to it, started before the describe's tests; after
 * them `stores` is closed, then the admin connection and the server.
 */
function privateRedis(stores: ModelStores): { redis: OwnedRedis; admin: ReturnType<typeof connectRedis> } {
  const server = {} as { redis: OwnedRedis; admin: ReturnType<typeof connectRedis> };
  beforeAll(async () => {
    server.redis = await startOwnedRedis();
    server.admin = connectRedis({ url: server.redis.url });
  });
  afterAll(async () => {
    stores.close();
    server.admin?.disconnect();
    await server.redis?.destroy();
  });
  return server;
}

describe("the operator's store connections during a Redis outage", () => {
  const stores = new ModelStores();
  const name = `model-store-outage-${process.pid}`;
  let redis: OwnedRedis;

  beforeAll(async () => {
    redis = await startOwnedRedis();
  });

  afterAll(async () => {
    stores.close();
    await redis?.destroy();
  });

  it("refuses a down store at once, naming it, and hands out the same connection once it is back", async () => {
    const store = await stores.open(redis.url, name);
    await readPointer(store);

    await redis.kill();
    // The kept connection notices when it is next used.
    await expect(readPointer(store)).rejects.toThrow();
    const port = new URL(redis.url).port;
    await expect(stores.open(redis.url, name)).rejects.toThrow(
      `store "${name}" at redis://127.0.0.1:${port} is unreachable`,
    );
    const refused = await stores.open(redis.url, name).catch((error: unknown) => error as Error);
    expect((refused as Error).cause).toMatchObject({ message: expect.stringContaining("ECONNREFUSED") });

    await redis.restart();
    let reopened: Awaited<ReturnType<ModelStores["open"]>> | undefined;
    await waitFor(
      "the store answers again",
      async () => (reopened = await stores.open(redis.url, name).catch(() => undefined)) !== undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(reopened).toBe(store);
    await readPointer(reopened!);
  });
});

describe("the operator's store connections as models come and go", () => {
  // A year of models deleted, namespaces removed and store Secrets pointed at a new Redis (a moved or
  // rotated URL): each kept connection no model uses any more must be closed, or the operator holds
  // (and, for a Redis that was shut down, retries every 2 s) one connection per store it ever opened.
  const stores = new ModelStores();
  const name = `model-store-users-${process.pid}`;
  const server = privateRedis(stores);
  /** The operator's connections to the private Redis, per database. */
  const connections = (db: number) => operatorConnections(server.admin, db);

  it("closes a store's connection once no model uses it: a model moved to another URL, or deleted", async () => {
    await readPointer(await stores.open(`${server.redis.url}/1`, name, false, "ns/a"));
    await readPointer(await stores.open(`${server.redis.url}/1`, name, false, "ns/b"));
    expect(await connections(1)).toBe(1);

    // Model a's Secret now names database 2: b still uses database 1's connection.
    await readPointer(await stores.open(`${server.redis.url}/2`, name, false, "ns/a"));
    expect(await connections(2)).toBe(1);
    expect(await connections(1)).toBe(1);

    // Model b's Secret now names database 3: nobody uses database 1 any more.
    await readPointer(await stores.open(`${server.redis.url}/3`, name, false, "ns/b"));
    await waitFor("the unused connection is closed", async () => (await connections(1)) === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    // b deleted, then a (or left without pipelines): their connections go too.
    stores.release("ns/b");
    stores.release("ns/a");
    await waitFor(
      "the last connections are closed",
      async () => (await connections(2)) === 0 && (await connections(3)) === 0,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // Releasing a model that holds nothing is harmless, and a new open connects again.
    stores.release("ns/a");
    await readPointer(await stores.open(`${server.redis.url}/2`, name, false, "ns/a"));
    expect(await connections(2)).toBe(1);
  });
});

describe("the operator's store connection of a model whose spec became invalid", () => {
  // An InvalidSpec model gives up its store (reconcileEmbeddingModel releases it): a model sharing that
  // store keeps its connection and works on; the fixed spec's model opens the store again.
  const stores = new ModelStores();
  const name = `model-store-invalid-${process.pid}`;
  const server = privateRedis(stores);
  const connections = () => operatorConnections(server.admin);

  it("keeps the shared connection for the other model, and opens it again once the spec is fixed", async () => {
    const shared = await stores.open(server.redis.url, name, false, "ns/a");
    expect(await stores.open(server.redis.url, name, false, "ns/b")).toBe(shared);
    await readPointer(shared);
    expect(await connections()).toBe(1);

    // a's spec cannot be parsed any more: b still uses the store, through the same connection.
    stores.release("ns/a");
    expect(await stores.open(server.redis.url, name, false, "ns/b")).toBe(shared);
    await readPointer(shared);
    expect(await connections()).toBe(1);

    // a's spec fixed: a uses the same store again; once b is invalid too, a keeps it.
    expect(await stores.open(server.redis.url, name, false, "ns/a")).toBe(shared);
    stores.release("ns/b");
    await readPointer(await stores.open(server.redis.url, name, false, "ns/a"));
    expect(await connections()).toBe(1);

    // Both invalid: the connection closes; a fixed spec opens a new one, which works.
    stores.release("ns/a");
    await waitFor("the unused connection is closed", async () => (await connections()) === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const reopened = await stores.open(server.redis.url, name, false, "ns/a");
    expect(reopened).not.toBe(shared);
    await readPointer(reopened);
    expect(await connections()).toBe(1);
  });
});

describe("the operator's store connection of a model whose store Secret is gone", () => {
  // The Secret (or its key) that named the store was deleted: the model reports SecretNotFound and
  // uses no store until the Secret is back, so the connection to the URL the Secret used to name must
  // not be kept (a Redis that was shut down along with its Secret would be retried every 2 s, forever).
  const stores = new ModelStores();
  const name = `model-store-secret-${process.pid}`;
  const namespace = `model-store-secret-${process.pid}`;
  let redis: OwnedRedis;
  let admin: ReturnType<typeof connectRedis>;
  let kube: KubeClient;

  const connections = () => operatorConnections(admin);

  beforeAll(async () => {
    redis = await startOwnedRedis();
    admin = connectRedis({ url: redis.url });
    await createRestrictedNamespace(namespace);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
    kube = new KubeClient(kubeConfig);
  });

  afterAll(async () => {
    stores.close();
    admin?.disconnect();
    await kube?.close();
    await deleteNamespace(namespace);
    await redis?.destroy();
  });

  const createStoreSecret = () =>
    kubectl(["create", "secret", "generic", "store", "-n", namespace, `--from-literal=url=${redis.url}`]);

  it("closes the connection once the model's store Secret is deleted", async () => {
    await createStoreSecret();
    const context = {
      key: { namespace, name: "jobs-model" },
      client: { getLive: (type: ResourceType, key: ObjectKey) => kube.get(objectPath(type, key)) },
    } as unknown as ReconcileContext;
    const pipeline = {
      metadata: { name: "jobs" },
      spec: { sinks: { store: { name, urlSecretRef: { name: "store", key: "url" } } } },
    } as unknown as NearlinePipeline;
    await readPointer((await openModelStore(context, stores, [pipeline]))!);
    expect(await connections()).toBe(1);

    await kubectl(["delete", "secret", "store", "-n", namespace]);
    await expect(openModelStore(context, stores, [pipeline])).rejects.toBeInstanceOf(StoreSecretMissing);
    await waitFor(
      "the connection to the Secret's old URL is closed",
      async () => (await connections()) === 0,
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );

    // The Secret back: the store is connected to again.
    await createStoreSecret();
    await readPointer((await openModelStore(context, stores, [pipeline]))!);
    expect(await connections()).toBe(1);
  });
});

describe("the operator's store connection to a Redis Cluster", () => {
  const stores = new ModelStores();
  const name = `model-store-cluster-${process.pid}-${Date.now().toString(36)}`;
  const seeds = () => requireEnv("JUDE_REDIS_CLUSTER_NODES");

  afterAll(async () => {
    const client = connectRedis({ clusterNodes: parseClusterNodes(seeds()) });
    try {
      const store = await openStore(client, { prefix: `jude:${name}` });
      // Only control keys were written (no vectors): all in the store's {jude:<name>} slot.
      await client.del(store.keys.meta, store.keys.pointer, store.keys.versions, store.keys.owner);
    } finally {
      client.disconnect();
    }
  });

  it("opens the store through the seed list with a cluster client and flips it there", async () => {
    const store = await stores.open(seeds(), name, true);
    expect(isCluster(store.client)).toBe(true);
    const digest = `sha256:${"c".repeat(64)}`;
    await registerVersion(store, "v1", { modelDigest: digest, dimension: 4 });
    await markVersionComplete(store, "v1");
    await flip(store, { expectedCurrent: null, target: "v1" });
    expect(await observeStore(store, name)).toMatchObject({ current: "v1", versions: { v1: "complete" } });
    // Kept: the same store again, and a reader with its own cluster client sees the flip.
    expect(await stores.open(seeds(), name, true)).toBe(store);
    const reader = connectRedis({ clusterNodes: parseClusterNodes(seeds()) });
    try {
      const seen = await openStore(reader, { prefix: `jude:${name}` });
      expect((await readPointer(seen)).current).toBe("v1");
    } finally {
      reader.disconnect();
    }
    stores.close();
  });

  it("refuses the seed list read as a URL, as before spec.sinks.store.cluster existed", async () => {
    const standalone = new ModelStores();
    try {
      await expect(standalone.open(seeds(), name, false)).rejects.toThrow(/store URL/);
    } finally {
      standalone.close();
    }
  });
});
