/**
 * A standalone Redis whose connection goes silent (its pod vanished with its node: no FIN, no RST,
 * and the Service now leads to a replacement). ioredis keeps a connection after a command timeout,
 * so every later command timed out on it too, for as long as the kernel retransmits (about 15
 * minutes). After a command timeout the store reconnects, through the Service, and a retry succeeds.
 * A reader's lookup has a deadline of its own, so a ranking service's client without a command
 * timeout neither waits that long nor stays on the silent connection.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  connectRedis,
  flip,
  isStoreError,
  markVersionComplete,
  openStore,
  readPointer,
  registerVersion,
  StoreReader,
  StoreWriter,
  type RedisClient,
  type Store,
} from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { startBalancer, type Balancer } from "../../support/tcp-balancer.ts";
import { waitFor } from "../../testbed/wait.ts";

const name = `silent-${process.pid}-${Date.now().toString(36)}`;
let balancer: Balancer;
let client: RedisClient;
let store: Store;

beforeAll(async () => {
  const redisPort = Number(new URL(requireEnv("JUDE_REDIS_URL")).port);
  // Three routes to the same server: when one goes silent, new connections take the next.
  balancer = await startBalancer([redisPort, redisPort, redisPort]);
  client = connectRedis({ url: `redis://127.0.0.1:${balancer.port}` }, { commandTimeoutMs: 1_000 });
  store = await openStore(client, { name, create: true });
  await registerVersion(store, "v1", { modelDigest: "sha256:silent", dimension: 2 });
});
afterAll(async () => {
  client?.disconnect();
  await balancer?.close();
  const cleaner = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  await deleteKeysWithPrefix(cleaner, store.layout.prefix).finally(() => cleaner.disconnect());
});

it("reconnects after a command timeout instead of waiting on the silent connection", async () => {
  expect((await readPointer(store)).current).toBeNull();
  balancer.blackhole(0);
  await waitFor(
    "a pointer read on a new connection",
    async () =>
      await readPointer(store).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  expect(balancer.connections).toBeGreaterThanOrEqual(2);
});

it("lets a retrying writer through on a new connection", async () => {
  balancer.blackhole(1);
  const writer = new StoreWriter(store, {
    retry: { deadlineMs: 30_000, initialDelayMs: 50, maxDelayMs: 500 },
  });
  const outcomes = await writer.write([
    {
      kind: "upsert",
      entity: "job",
      id: "j1",
      version: "v1",
      eventTimeMs: 1_000,
      offset: 0,
      partition: 0,
      vector: [0.6, 0.8],
      modelDigest: "sha256:silent",
      contentHash: "h-j1",
    },
  ]);
  // The timed-out try may have been sent again on the new connection and applied there: the retry
  // then finds its own write in place ("stale"). Either way the record is stored once.
  expect(["created", "stale"]).toContain(outcomes[0]);
  const [meta] = await writer.readMeta("v1", [{ entity: "job", id: "j1" }]);
  expect(meta).toMatchObject({ contentHash: "h-j1" });
  expect(balancer.connections).toBeGreaterThanOrEqual(3);
});

it("fails a reader's lookup on a silent connection within its deadline, and reads on a new one", async () => {
  const redisPort = Number(new URL(requireEnv("JUDE_REDIS_URL")).port);
  const direct = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  const readerBalancer = await startBalancer([redisPort, redisPort]);
  // As a ranking service connects: no command timeout.
  const readerClient = connectRedis({ url: `redis://127.0.0.1:${readerBalancer.port}` });
  try {
    const admin = await openStore(direct, { name });
    await new StoreWriter(admin).write([
      {
        kind: "upsert",
        entity: "job",
        id: "j2",
        version: "v1",
        eventTimeMs: 1_000,
        offset: 1,
        partition: 0,
        vector: [0.8, 0.6],
        modelDigest: "sha256:silent",
        contentHash: "h-j2",
      },
    ]);
    await markVersionComplete(admin, "v1");
    await flip(admin, { expectedCurrent: null, target: "v1" });
    const readerStore = await openStore(readerClient, { name });
    const reader = await StoreReader.open(readerStore, {
      subscribe: false,
      refreshIntervalMs: 0,
      lookupTimeoutMs: 500,
    });
    try {
      expect((await reader.get("job", "j2"))?.version).toBe("v1");
      readerBalancer.blackhole(0);
      const failure = await reader.get("job", "j2").catch((error: unknown) => error);
      expect(isStoreError(failure, "STORE_UNAVAILABLE")).toBe(true);
      await waitFor(
        "a lookup on a new connection",
        async () => (await reader.get("job", "j2").catch(() => null))?.version === "v1",
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(readerBalancer.connections).toBeGreaterThanOrEqual(2);
    } finally {
      await reader.close();
    }
  } finally {
    readerClient.disconnect();
    direct.disconnect();
    await readerBalancer.close();
  }
}, 45_000);
