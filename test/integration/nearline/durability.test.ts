/**
 * The store writer's durability option on the testbed's Redis (standalone and cluster, no replicas,
 * `appendonly yes`): a write that asks for a replica is not acknowledged — also when it is a replay
 * whose writes are all stale — until one has it; with a real replica attached it is; and WAITAOF is
 * used or refused according to what the server supports. A bootstrap shard honours the same option.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  checkDurabilitySupport,
  connectRedis,
  isStoreError,
  registerVersion,
  StoreWriter,
  type RedisClient,
} from "../../../store/index.ts";
import { createTestStore, testTargets, upsert, type TestStore } from "../store/helpers.ts";
import {
  createBootstrapStore,
  jobDocument,
  runShardInProcess,
  shardConfig,
  shardDocument,
  VERSION,
} from "../bootstrap/helpers.ts";
import { startServedEmbedder, type ServedEmbedder } from "../bootstrap/served-embed.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const shortRetry = { deadlineMs: 1_500, initialDelayMs: 50, maxDelayMs: 200 };

describe.each(testTargets())("durable writes on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("does not acknowledge writes, nor their stale replay, until the asked-for replica has them", async () => {
    testStore = await createTestStore(target, "durable");
    const { store } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    const writes = [upsert("A", 1, 1_000, 1), upsert("A", 2, 1_000, 2)];
    const waiting = new StoreWriter(store, {
      retry: shortRetry,
      durability: { replicas: 1, fsync: false, timeoutMs: 100 },
    });
    const failure = await waiting.write(writes).catch((error: unknown) => error);
    expect(isStoreError(failure) && failure.retryable).toBe(true);
    expect((failure as Error).message).toMatch(/durability not reached within 100 ms: 0 of 1 replicas/);
    // Applied, but not acknowledged: the caller keeps its offsets uncommitted and replays.
    expect(await new StoreWriter(store).readMeta("A", [{ entity: "job", id: "1" }])).toMatchObject([
      { eventTimeMs: 1_000 },
    ]);
    const replay = await waiting.write(writes).catch((error: unknown) => error);
    expect((replay as Error).message).toMatch(/0 of 1 replicas/);
    // Asking for nothing beyond Redis's acknowledgement answers at once.
    expect(
      await new StoreWriter(store, { durability: { replicas: 0, fsync: false, timeoutMs: 100 } }).write(
        writes,
      ),
    ).toEqual(["stale", "stale"]);
  });

  it("uses WAITAOF where the server has it and refuses fsync at start-up where it does not", async () => {
    testStore = await createTestStore(target, "durable-aof");
    const { client, store } = testStore;
    const node =
      "nodes" in client && typeof client.nodes === "function" ? client.nodes("master")[0]! : client;
    const [waitAof] = (await node.call("COMMAND", "INFO", "WAITAOF")) as unknown[];
    const fsync = { replicas: 0, fsync: true, timeoutMs: 1_000 };
    if (waitAof === null) {
      await expect(checkDurabilitySupport(client, fsync)).rejects.toThrow(
        /WAITAOF \(Redis >= 7\.2\).*appendfsync always/,
      );
    } else {
      await checkDurabilitySupport(client, fsync);
      await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
      expect(await new StoreWriter(store, { durability: fsync }).write([upsert("A", 1, 1, 1)])).toEqual([
        "created",
      ]);
    }
  });
});

describe("durable writes with a real replica", () => {
  let replica: ChildProcess | undefined;
  let testStore: TestStore | undefined;
  let replicaClient: RedisClient | undefined;
  let replicaDir: string | undefined;
  afterAll(async () => {
    await served?.close();
    await replicaClient?.quit().catch(() => undefined);
    await testStore?.drop();
    if (replica && replica.exitCode === null) {
      replica.kill("SIGTERM");
      await once(replica, "exit");
    }
    if (replicaDir !== undefined) rmSync(replicaDir, { recursive: true, force: true });
  });

  const standalone = testTargets()[0]!;
  let served: ServedEmbedder | undefined;
  beforeAll(async () => {
    served = await startServedEmbedder();
    const primaryUrl = new URL((standalone.target as { url: string }).url);
    const port = await freePort();
    // A replica of the testbed's standalone server for the length of this test; the RDB of its initial
    // sync goes to a temporary folder, not the working directory.
    replicaDir = mkdtempSync(join(tmpdir(), "jude-replica-"));
    replica = spawn(
      process.env.JUDE_REDIS_SERVER_BIN ?? "redis-server",
      [
        "--port",
        String(port),
        "--dir",
        replicaDir,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--replicaof",
        primaryUrl.hostname,
        primaryUrl.port,
      ],
      { stdio: "ignore" },
    );
    replicaClient = connectRedis({ url: `redis://127.0.0.1:${port}` });
    await waitFor(
      "the replica to sync",
      async () => /master_link_status:up/.test(await replicaClient!.info("replication")),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  it("acknowledges once a replica of the primary received the writes (WAIT 1)", async () => {
    testStore = await createTestStore(standalone, "durable-replica");
    const { store } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    const writer = new StoreWriter(store, {
      retry: shortRetry,
      durability: { replicas: 1, fsync: false, timeoutMs: 1_000 },
    });
    expect(await writer.write([upsert("A", 1, 1_000, 1), upsert("A", 2, 1_000, 2)])).toEqual([
      "created",
      "created",
    ]);
    // What was acknowledged is on the replica.
    const layoutKey = (await replicaClient!.keys(`{${testStore.prefix}:*}:v:A:m`)).length;
    expect(layoutKey).toBeGreaterThan(0);
  });

  it("makes a bootstrap shard wait for the replica before its checkpoint counts the writes", async () => {
    const target = await createBootstrapStore("durable");
    const file = join(replicaDir!, "snapshot.jsonl");
    writeFileSync(file, [1, 2, 3].map((id) => JSON.stringify(jobDocument(id, 3))).join("\n") + "\n");
    const document = shardDocument({
      storeName: target.name,
      run: "durable",
      shards: { count: 1, index: 0 },
      source: { files: { uris: [pathToFileURL(file).href] } },
    });
    try {
      // Refused at start-up where the server cannot give the guarantee (the testbed runs Redis 7.0).
      const fsync = { ...(document.store as object), durability: { fsync: true } };
      const refusal = runShardInProcess(shardConfig({ ...document, store: fsync }), served!.embed);
      if ((await redisMajorMinor(target.client)) < 7.2) await expect(refusal).rejects.toThrow(/WAITAOF/);
      else await refusal;

      const durable = { ...(document.store as object), durability: { replicas: 1 } };
      const outcome = await runShardInProcess(shardConfig({ ...document, store: durable }), served!.embed);
      expect(outcome.state.counts.written).toBe(3);
      // The wait ran (its marker is in the written buckets' stats) and the replica holds every vector.
      const statsKeys = await target.client.keys(`{${target.store.layout.prefix}:*}:v:${VERSION}:s`);
      const markers = await Promise.all(statsKeys.map((key) => target.client.hget(key, "durableAtMs")));
      expect(markers.filter((marker) => marker !== null).length).toBeGreaterThan(0);
      const dataKeys = await target.client.keys(`{${target.store.layout.prefix}:*}:v:${VERSION}:d`);
      for (const key of dataKeys) expect(await replicaClient!.hlen(key)).toBe(await target.client.hlen(key));
      expect(dataKeys.length).toBeGreaterThan(0);
    } finally {
      await target.drop();
    }
  });
});

/** The server's version as major.minor (e.g. 7.0), to know whether it has WAITAOF. */
async function redisMajorMinor(client: RedisClient): Promise<number> {
  const version = /redis_version:(\d+)\.(\d+)/.exec(await client.info("server"));
  return version === null ? 0 : Number(`${version[1]}.${version[2]}`);
}
