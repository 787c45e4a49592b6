/**
 * A standalone Redis fails over behind its Service (Sentinel or a Redis operator promotes the replica
 * and moves the Service's endpoint to it). Connections opened before stay with the demoted primary,
 * which answers every write with "READONLY You can't write against a read only replica": retrying
 * on them never succeeds. The store reconnects on READONLY, through the Service, to the new primary.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  StoreWriter,
  connectRedis,
  countVersion,
  flip,
  markVersionComplete,
  openStore,
  readPointer,
  registerVersion,
  type RedisClient,
  type Store,
} from "../../../store/index.ts";
import { startBalancer, type Balancer } from "../../support/tcp-balancer.ts";
import { waitFor } from "../../testbed/wait.ts";
import { upsert } from "./helpers.ts";
import { startOwnedRedis, type OwnedRedis } from "./redis-server.ts";

let primary: OwnedRedis;
let replica: OwnedRedis;
let balancer: Balancer;
/** The clients of a worker and of the operator, connected through the Service before the failover. */
let store: Store;
let operatorStore: Store;
const admin: RedisClient[] = [];

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A client straight to one server (not through the Service). */
function direct(server: OwnedRedis): RedisClient {
  const each = connectRedis({ url: server.url });
  admin.push(each);
  return each;
}

beforeAll(async () => {
  [primary, replica] = await Promise.all([startOwnedRedis(), startOwnedRedis()]);
  await direct(replica).call("REPLICAOF", "127.0.0.1", String(portOf(primary.url)));
  await waitFor(
    "the replica to sync",
    async () => /master_link_status:up/.test(await direct(replica).info("replication")),
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  // The Service: its one endpoint is the primary.
  balancer = await startBalancer([portOf(primary.url), portOf(replica.url)]);
  balancer.retire(1);
  const viaService = () => {
    const each = connectRedis({ url: `redis://127.0.0.1:${balancer.port}` });
    admin.push(each);
    return each;
  };
  store = await openStore(viaService(), { name: "failover", create: true });
  operatorStore = await openStore(viaService(), { name: "failover" });
  await registerVersion(store, "v1", { modelDigest: "sha256:v1", dimension: 4 });
  await registerVersion(store, "v2", { modelDigest: "sha256:v2", dimension: 4 });
  await new StoreWriter(store).write([upsert("v1", 0, 1_000, 0), upsert("v2", 0, 1_000, 0)]);
  await Promise.all([markVersionComplete(store, "v1"), markVersionComplete(store, "v2")]);
  await flip(store, { expectedCurrent: null, target: "v1" });

  // Failover: the replica is promoted, the old primary follows it, the Service moves.
  await direct(replica).call("REPLICAOF", "NO", "ONE");
  await direct(primary).call("REPLICAOF", "127.0.0.1", String(portOf(replica.url)));
  balancer.retire(0);
  balancer.restore(1);
});

afterAll(async () => {
  for (const each of admin) each.disconnect();
  await balancer?.close();
  await Promise.all([primary?.destroy(), replica?.destroy()]);
});

it("lets a retrying writer through to the new primary", async () => {
  const retries: string[] = [];
  const writer = new StoreWriter(store, {
    retry: { deadlineMs: 10_000, initialDelayMs: 20, maxDelayMs: 200 },
    onRetry: (_attempt, error) => retries.push(error.message),
  });
  // Before: every retry went to the demoted primary, until the deadline ("2 of 2 writes still failing").
  const outcomes = await writer.write([upsert("v1", 1, 2_000, 1), upsert("v1", 2, 2_000, 2)]);
  expect(outcomes).toEqual(["created", "created"]);
  expect(retries[0]).toMatch(/^READONLY/);
  // Record 0, written before the failover and replicated, and the two new ones.
  expect((await countVersion(store, "v1")).live).toBe(3);
});

it("flips on the new primary once a failed flip's reconcile is retried", async () => {
  // The operator's flip is one call per reconcile; a READONLY answer fails it, the next one succeeds.
  const flipped = () =>
    flip(operatorStore, { expectedCurrent: "v1", target: "v2" }).then(
      () => true,
      () => false,
    );
  await waitFor("a flip on the new primary", flipped, { timeoutMs: 10_000, intervalMs: 100 });
  expect(await readPointer(operatorStore)).toMatchObject({ current: "v2", backup: "v1" });
});
