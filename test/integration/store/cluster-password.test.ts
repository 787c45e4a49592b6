/**
 * A password-protected Redis Cluster store (requirepass on every node; the testbed's shared Cluster has
 * none, so the test starts its own): the store Secret's seed list carries the password on one seed,
 * `redis://:<password>@host:port,host:port,…`. The workers' and bootstrap shards' connection
 * (openPipelineStore, reading the Secret from a file as the rendered config says) writes vectors; the
 * operator's (storeTarget, as the EmbeddingModel and BootstrapRun controllers open it) flips the
 * pointer and reads them back. Plain seeds without the password are refused by the Cluster (the
 * operator's open fails instead of waiting for ever), and the operator's endpoint and the Job
 * annotation's endpoint never hold the password.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelStores } from "../../../controllers/embedding-model/model-store.ts";
import { storeEndpoint } from "../../../controllers/nearline-pipeline/store-endpoint.ts";
import { storeTarget, targetEndpoint } from "../../../controllers/shared/store-target.ts";
import { openPipelineStore } from "../../../pipelines/shared/store-connection.ts";
import {
  connectRedis,
  flip,
  markVersionComplete,
  openStore,
  readPointer,
  registerVersion,
  StoreReader,
  StoreWriter,
} from "../../../store/index.ts";
import { upsert } from "./helpers.ts";
import { startOwnedCluster, type OwnedCluster } from "./owned-cluster.ts";

const password = "jude-cluster-pw-7e3a";
const storeName = `cluster-password-${process.pid}`;

describe("a password-protected Redis Cluster store", () => {
  let cluster: OwnedCluster;
  let dir: string;
  let seedList: string;

  beforeAll(async () => {
    cluster = await startOwnedCluster({ masters: 3, password });
    dir = mkdtempSync(join(tmpdir(), "jude-cluster-password-"));
    const [first, ...rest] = cluster.seeds;
    seedList = [`redis://:${encodeURIComponent(password)}@${first}`, ...rest].join(", ");
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("is protected: a node refuses a connection that brings no password", async () => {
    // (A cluster client without the password never becomes ready; its commands wait in its queue.)
    const [node] = cluster.nodes;
    const client = connectRedis({ url: `redis://${node!.address}` }, { maxRetriesPerRequest: 0 });
    try {
      await expect(client.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      client.disconnect();
    }
  });

  it("fails the operator's open of the store, without hanging, when the Secret lacks the password", async () => {
    const stores = new ModelStores();
    try {
      await expect(stores.open(cluster.seeds.join(","), storeName, true)).rejects.toThrow(
        `store "${storeName}" at Redis Cluster ${cluster.seeds.join(",")} is unreachable`,
      );
    } finally {
      stores.close();
    }
  });

  it("takes the workers' writes and the operator's flip with the password from the seed list", async () => {
    // The workers and the shards: the Secret mounted as a file, as the operator renders it.
    const file = join(dir, "url");
    writeFileSync(file, `${seedList}\n`);
    const { client: workerClient, store: workerStore } = await openPipelineStore(
      { name: storeName, url: { file }, cluster: true },
      { connectionName: "cluster-password-worker" },
    );
    // The operator: the same Secret value read from the API.
    const target = storeTarget(seedList, true);
    const operatorClient = connectRedis(target, { maxRetriesPerRequest: 1, commandTimeoutMs: 10_000 });
    try {
      await registerVersion(workerStore, "v1", { modelDigest: "sha256:v1", dimension: 4 });
      await new StoreWriter(workerStore).write([upsert("v1", 1, 1_000, 0), upsert("v1", 2, 1_000, 1)]);
      const operatorStore = await openStore(operatorClient, { name: storeName, create: false });
      await markVersionComplete(operatorStore, "v1");
      await flip(operatorStore, { expectedCurrent: null, target: "v1" });
      expect(await readPointer(operatorStore)).toMatchObject({ current: "v1" });
      const reader = await StoreReader.open(operatorStore, { subscribe: false, refreshIntervalMs: 0 });
      try {
        const hits = await reader.getMany("job", ["1", "2"]);
        expect(hits.map((hit) => hit?.version)).toEqual(["v1", "v1"]);
      } finally {
        await reader.close();
      }
    } finally {
      await workerClient.quit().catch(() => undefined);
      await operatorClient.quit().catch(() => undefined);
    }
  });

  it("never puts the password in the endpoints the operator writes to statuses, Events and annotations", () => {
    const endpoint = targetEndpoint(storeTarget(seedList, true));
    expect(endpoint).toBe(`Redis Cluster ${cluster.seeds.join(",")}`);
    expect(storeEndpoint(seedList, true)).toBe(`redis-cluster://${[...cluster.seeds].sort().join(",")}`);
    expect(`${endpoint} ${storeEndpoint(seedList, true)}`).not.toContain(password);
  });
});
