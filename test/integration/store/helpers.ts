/**
 * Shared helpers of the store integration tests: Redis targets from the testbed's environment, a
 * fresh uniquely-named store per test, and vectors that encode their own version and id so a test can
 * check that a reader never reports a version other than the one its bytes came from.
 */

import { randomUUID } from "node:crypto";
import type { RedisClient, RedisTarget, Store, StoreWrite } from "../../../store/index.ts";
import { StoreWriter, connectRedis, openStore, parseClusterNodes } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";

export { deleteKeysWithPrefix };

/** A Redis deployment the store tests run against. */
export interface TestTarget {
  readonly name: "standalone" | "cluster";
  readonly target: RedisTarget;
}

/** Both deployments: a standalone server and a three-master cluster. */
export function testTargets(): TestTarget[] {
  return [
    { name: "standalone", target: { url: requireEnv("JUDE_REDIS_URL") } },
    { name: "cluster", target: { clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) } },
  ];
}

/** A store with a unique prefix on its own client; `drop` deletes its keys and closes the client. */
export interface TestStore {
  readonly client: RedisClient;
  readonly store: Store;
  readonly prefix: string;
  /** Opens another client + store handle on the same store, as a separate process would. */
  readonly reopen: () => Promise<{ client: RedisClient; store: Store }>;
  readonly drop: () => Promise<void>;
}

/** Creates a fresh store named after the test. */
export async function createTestStore(target: TestTarget, label: string, buckets = 16): Promise<TestStore> {
  const prefix = `jude-test:${label}-${randomUUID().slice(0, 8)}`;
  const clients: RedisClient[] = [];
  const open = async (create: boolean) => {
    const client = connectRedis(target.target, { connectionName: `store-test-${label}` });
    clients.push(client);
    const store = await openStore(client, { prefix, create, ...(create ? { buckets } : {}) });
    return { client, store };
  };
  const { client, store } = await open(true);
  return {
    client,
    store,
    prefix,
    reopen: () => open(false),
    drop: async () => {
      await deleteKeysWithPrefix(client, prefix);
      await Promise.all(clients.map((each) => each.quit().catch(() => undefined)));
    },
  };
}

/** Small numeric code of a version name, stored in every test vector's first element. */
export function versionCode(version: string): number {
  let code = 0;
  for (const char of version) code = (code * 31 + char.charCodeAt(0)) % 65_521;
  return code;
}

/** A vector that encodes version, id and a revision: [versionCode, id, revision, 1]. */
export function testVector(version: string, id: number, revision = 0): number[] {
  return [versionCode(version), id, revision, 1];
}

/** An upsert whose vector encodes version, id and revision. */
export function upsert(
  version: string,
  id: number,
  eventTimeMs: number,
  offset: number,
  revision = 0,
): StoreWrite {
  return {
    kind: "upsert",
    version,
    entity: "job",
    id: String(id),
    eventTimeMs,
    offset,
    partition: 0,
    contentHash: `h${revision}`,
    vector: testVector(version, id, revision),
    modelDigest: `sha256:${version}`,
  };
}

/** A delete of job `id`. */
export function remove(version: string, id: number, eventTimeMs: number, offset: number): StoreWrite {
  return { kind: "delete", version, entity: "job", id: String(id), eventTimeMs, offset, partition: 0 };
}

/** Ids 0..count-1 as strings. */
export function ids(count: number): string[] {
  return Array.from({ length: count }, (_, index) => String(index));
}

/**
 * A writer on `store` that retries quickly for up to a minute (a refusal the test lifts), keeping the
 * message of each error it retried on; `retried` resolves at its first retry.
 */
export function retryingWriter(store: Store): {
  writer: StoreWriter;
  retryErrors: string[];
  retried: Promise<void>;
} {
  const retryErrors: string[] = [];
  const retried = Promise.withResolvers<void>();
  const writer = new StoreWriter(store, {
    retry: { deadlineMs: 60_000, initialDelayMs: 20, maxDelayMs: 200 },
    onRetry: (_attempt, error) => {
      retryErrors.push(error.message);
      retried.resolve();
    },
  });
  return { writer, retryErrors, retried: retried.promise };
}
