import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createControllerClient,
  forgetUncached,
  OwnerDeleted,
  statusWriteSeenWithinMs,
} from "./controller-client.ts";
import { KubeClient } from "./kube-client.ts";
import { resourceTypes } from "./resource-types.ts";
import type { CacheReader, KubeObject } from "./types.ts";

const configMap = (data: string): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "c", namespace: "ns" },
    data: { a: data },
  }) as KubeObject;

/**
 * A KubeClient that records applies and answers with increasing resourceVersions and live reads with
 * `live` (path to object), and a cache of one object.
 */
function fakes() {
  const applies: string[] = [];
  const managers: string[] = [];
  const reads: string[] = [];
  const live = new Map<string, KubeObject>();
  let version = 0;
  let cached: KubeObject | undefined;
  const client = {
    get: async (path: string) => {
      reads.push(path);
      return live.get(path);
    },
    apply: async (path: string, object: KubeObject, fieldManager: string) => {
      applies.push(path);
      managers.push(fieldManager);
      version += 1;
      return { ...object, metadata: { ...object.metadata, resourceVersion: String(version) } };
    },
  } as unknown as KubeClient;
  const cache = { get: () => cached, list: () => [] } as unknown as CacheReader;
  return {
    applies,
    managers,
    reads,
    live,
    client,
    cache,
    setCached: (object: KubeObject | undefined) => (cached = object),
  };
}

const modelPath = (name: string) => `/apis/jude.dev/v1alpha1/namespaces/ns/embeddingmodels/${name}`;
const liveModel = (name: string, uid: string): KubeObject => ({
  apiVersion: "jude.dev/v1alpha1",
  kind: "EmbeddingModel",
  metadata: { name, namespace: "ns", uid },
});
const ownedConfigMap = (name: string, uid: string): KubeObject => ({
  ...configMap("1"),
  metadata: {
    name: "c",
    namespace: "ns",
    ownerReferences: [
      { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name, uid, controller: true },
    ],
  },
});

describe("controller client applies", () => {
  it("skip re-applying the same object while the cache shows it unchanged since", async () => {
    const { applies, client, cache, setCached } = fakes();
    const writer = createControllerClient(client, cache, "test");
    const stored = await writer.apply(configMap("1"));
    setCached(stored);
    expect(await writer.apply(configMap("1"))).toBe(stored);
    expect(applies).toHaveLength(1);
  });

  it("apply again when the body changed, someone changed the object, or the cache lost it", async () => {
    const { applies, client, cache, setCached } = fakes();
    const writer = createControllerClient(client, cache, "test");
    setCached(await writer.apply(configMap("1")));
    setCached(await writer.apply(configMap("2")));
    expect(applies).toHaveLength(2);
    setCached({ ...configMap("2"), metadata: { name: "c", namespace: "ns", resourceVersion: "99" } });
    await writer.apply(configMap("2"));
    expect(applies).toHaveLength(3);
    setCached(undefined);
    await writer.apply(configMap("2"));
    expect(applies).toHaveLength(4);
  });

  it("refuse to take over a child another owner controls: two owners derived the same child name", async () => {
    const { applies, client, cache, setCached, live } = fakes();
    live.set(modelPath("shop"), liveModel("shop", "uid-c"));
    live.set(modelPath("shop-v1"), liveModel("shop-v1", "uid-b"));
    const writer = createControllerClient(client, cache, "test");
    // Model "shop" version "v1" and model "shop-v1" both name a Service "shop-v1".
    setCached(ownedConfigMap("shop", "uid-a"));
    await expect(writer.apply(ownedConfigMap("shop-v1", "uid-b"))).rejects.toThrow(
      /^ConfigMap ns\/c belongs to EmbeddingModel shop, so EmbeddingModel shop-v1 cannot use that name/,
    );
    expect(applies).toHaveLength(0);
    // The same owner recreated (a new uid) still adopts what its predecessor left behind.
    await writer.apply(ownedConfigMap("shop", "uid-c"));
    // An object without a controller is adopted as before.
    setCached(configMap("1"));
    await writer.apply(ownedConfigMap("shop-v1", "uid-b"));
    expect(applies).toHaveLength(2);
  });

  it("adopt a child only once a live read finds its owner at that uid and not being deleted", async () => {
    const { applies, reads, client, cache, setCached, live } = fakes();
    const writer = createControllerClient(client, cache, "test");
    const child = ownedConfigMap("shop", "uid-a");
    // The garbage collector removed the reference (`kubectl delete --cascade=orphan`) and the cache
    // shows that before the owner's deletion: applying would put it back, and the child be collected.
    setCached(configMap("1"));
    live.set(modelPath("shop"), {
      ...liveModel("shop", "uid-a"),
      metadata: { ...liveModel("shop", "uid-a").metadata, deletionTimestamp: "2026-12-08T00:00:00Z" },
    });
    await expect(writer.apply(child)).rejects.toThrow(
      new OwnerDeleted("ConfigMap ns/c not adopted: EmbeddingModel shop is being deleted"),
    );
    live.delete(modelPath("shop"));
    await expect(writer.apply(child)).rejects.toThrow(
      /^ConfigMap ns\/c not adopted: EmbeddingModel shop \(uid uid-a\) is gone$/,
    );
    live.set(modelPath("shop"), liveModel("shop", "uid-z"));
    await expect(writer.apply(child)).rejects.toBeInstanceOf(OwnerDeleted);
    expect(applies).toHaveLength(0);
    // Applied again by the user: the live owner is the one named, and the child is adopted.
    live.set(modelPath("shop"), liveModel("shop", "uid-a"));
    setCached(await writer.apply(child));
    expect(applies).toHaveLength(1);
    // Creating a child, or applying one the cache shows owned, reads nothing.
    reads.length = 0;
    await writer.apply({ ...child, data: { a: "2" } });
    setCached(undefined);
    await writer.apply(child);
    expect(reads).toEqual([]);
    expect(applies).toHaveLength(3);
  });

  it("apply again after a delete", async () => {
    const { applies, client, cache, setCached } = fakes();
    const writer = createControllerClient(
      { ...client, delete: async () => undefined } as unknown as KubeClient,
      cache,
      "test",
    );
    setCached(await writer.apply(configMap("1")));
    await writer.delete(
      { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
      { namespace: "ns", name: "c" },
    );
    await writer.apply(configMap("1"));
    expect(applies).toHaveLength(2);
  });

  it("apply under another field manager when asked, each manager's last apply remembered apart", async () => {
    const { managers, client, cache, setCached } = fakes();
    const writer = createControllerClient(client, cache, "test");
    setCached(await writer.apply(configMap("1")));
    // The same body under another manager is another claim on the fields: it is sent ...
    await writer.apply(configMap("1"), { fieldManager: "test-handover" });
    // ... and the controller's own apply, unchanged since, is still skipped.
    await writer.apply(configMap("1"));
    expect(managers).toEqual(["jude-test", "test-handover"]);
  });

  it("refuse every write once beforeWrite throws (this replica no longer leads), sending nothing", async () => {
    const { applies, client, cache } = fakes();
    const leading = new AbortController();
    const writer = createControllerClient(client, cache, "test", () => leading.signal.throwIfAborted());
    await writer.apply(configMap("1"));
    leading.abort(new Error("lost the leader lease"));
    await expect(writer.apply(configMap("2"))).rejects.toThrow("lost the leader lease");
    await expect(writer.applyStatus({ ...configMap("2"), status: { ready: true } })).rejects.toThrow(
      "lost the leader lease",
    );
    await expect(writer.delete(resourceTypes.configMap, { namespace: "ns", name: "c" })).rejects.toThrow(
      "lost the leader lease",
    );
    expect(applies).toHaveLength(1);
  });
});

describe("controller client status writes the cache has not shown", () => {
  const at = (resourceVersion: string): KubeObject => ({
    ...configMap("1"),
    metadata: { name: "c", namespace: "ns", resourceVersion },
  });
  const key = { namespace: "ns", name: "c" };

  it("are told until the cache shows the object changed, or for statusWriteSeenWithinMs", async () => {
    const { client, cache, setCached } = fakes();
    let nowMs = 1_000;
    const writer = createControllerClient(client, cache, "test", undefined, undefined, () => nowMs);
    setCached(at("7"));
    expect(writer.statusWriteUnseenFor(resourceTypes.configMap, key)).toBeUndefined();
    await writer.applyStatus({ ...configMap("1"), status: { ready: true } });
    nowMs += 10;
    expect(writer.statusWriteUnseenFor(resourceTypes.configMap, key)).toBe(statusWriteSeenWithinMs - 10);
    setCached(at("1")); // the version the write was answered with
    expect(writer.statusWriteUnseenFor(resourceTypes.configMap, key)).toBeUndefined();

    await writer.applyStatus({ ...configMap("1"), status: { ready: false } });
    nowMs += statusWriteSeenWithinMs;
    expect(writer.statusWriteUnseenFor(resourceTypes.configMap, key)).toBeUndefined();
  });

  it("are told for no longer than statusWriteSeenWithinMs when the wall clock steps back", async () => {
    const { client, cache, setCached } = fakes();
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + stepMs);
    const writer = createControllerClient(client, cache, "test");
    setCached(at("7"));
    await writer.applyStatus({ ...configMap("1"), status: { ready: true } });
    // NTP steps the clock an hour back before the watch brought the write: the key must not be
    // deferred for an hour.
    stepMs = -3_600_000;
    expect(writer.statusWriteUnseenFor(resourceTypes.configMap, key)).toBeLessThanOrEqual(
      statusWriteSeenWithinMs,
    );
    vi.restoreAllMocks();
  });
});

describe("controller client memory", () => {
  it("forgets the applies of objects the cache no longer holds", () => {
    const remembered = new Map([
      ["m a", { gone: false }],
      ["m b", { gone: true }],
    ]);
    forgetUncached(remembered, (entry) => !entry.gone);
    expect([...remembered.keys()]).toEqual(["m a"]);
  });

  it("keeps skipping an unchanged object the cache holds after a sweep of thousands of removed ones", async () => {
    const applies: string[] = [];
    let version = 0;
    const client = {
      apply: async (path: string, object: KubeObject) => {
        applies.push(path);
        version += 1;
        return { ...object, metadata: { ...object.metadata, resourceVersion: String(version) } };
      },
    } as unknown as KubeClient;
    const held: { kept?: KubeObject } = {};
    // The cache holds only "c"; every other ConfigMap was removed by someone else.
    const cache = {
      get: (_type: unknown, key: { name: string }) => (key.name === "c" ? held.kept : undefined),
      list: () => [],
    } as unknown as CacheReader;
    const writer = createControllerClient(client, cache, "test");
    const kept = await writer.apply(configMap("1"));
    held.kept = kept;
    for (let index = 0; index < 3000; index += 1)
      await writer.apply({ ...configMap("x"), metadata: { name: `gone-${index}`, namespace: "ns" } });
    expect(await writer.apply(configMap("1"))).toBe(kept);
    expect(applies).toHaveLength(3001);
  });
});

describe("controller client reads on a server that keeps answering 429", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  // A reconcile's live reads wait out Retry-After inside the KubeClient (up to 11 tries of 10 s). Once
  // the replica stops leading (the Lease was lost, or shutdown's drain time is up) they must stop
  // waiting like its writes: the manager waits for every reconcile before it releases the Lease, and
  // the Pod is killed 5 s after the drain time.
  it("stop waiting when the replica no longer leads", async () => {
    let requests = 0;
    let answered: () => void = () => undefined;
    server = createServer((_request, response) => {
      requests += 1;
      response.writeHead(429, { "retry-after": "5" }).end("Too many requests, please try again later.\n");
      answered();
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const config = {
      getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }),
      applySecurityAuthentication: async () => undefined,
    } as unknown as KubeConfig;
    const client = new KubeClient(config);
    let leading = new AbortController();
    const cache = { get: () => undefined, list: () => [] } as unknown as CacheReader;
    const reader = createControllerClient(
      client,
      cache,
      "test",
      () => leading.signal.throwIfAborted(),
      () => leading.signal,
    );
    for (const read of [
      () => reader.getLive(resourceTypes.secret, { namespace: "ns", name: "s" }),
      () => reader.listLive(resourceTypes.event, "ns", "involvedObject.name=a"),
    ]) {
      const before = requests;
      // The lease is lost once the first answer (retry after 5 s) is in: the read stops waiting then,
      // with no second try (11 tries 5 s apart would outlast the test's time limit).
      const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
      const reading = read();
      await firstAnswer;
      leading.abort(new Error("lost the leader lease"));
      await expect(reading).rejects.toThrow("lost the leader lease");
      expect(requests - before).toBe(1);
      leading = new AbortController();
    }
    await client.close();
  });
});
