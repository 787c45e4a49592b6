/** Redis cleanup shared by integration tests and benchmarks. */
import { isCluster, type RedisClient } from "../../store/index.ts";

/** Deletes every key containing the prefix, on every master (test and benchmark cleanup only; uses SCAN). */
export async function deleteKeysWithPrefix(client: RedisClient, prefix: string): Promise<void> {
  const nodes = isCluster(client) ? client.nodes("master") : [client];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
      cursor = next;
      // One UNLINK per key: keys on one node may still sit in different slots.
      await Promise.all(keys.map((key) => node.unlink(key)));
    } while (cursor !== "0");
  }
}

/** What fillRedis leaves between the memory Redis uses and its new limit. */
export const FILL_MARGIN_BYTES = 256 * 1024;

/**
 * Makes a Redis (one the test owns) full: noeviction, and maxmemory below what it uses now, so every
 * write that needs memory is refused with OOM until FILL_MARGIN_BYTES and the write are freed. The
 * margin is above what Redis's own use moves by on its own (client buffers come and go by tens of
 * KB). The slow log is switched off: under load, commands slower than its 10 ms threshold are kept
 * with their arguments (128 entries, 100 KB and more), which would eat the memory a test frees.
 */
export async function fillRedis(client: RedisClient): Promise<void> {
  await client.config("SET", "slowlog-log-slower-than", "-1");
  await client.slowlog("RESET");
  const used = ((await client.info("memory")).match(/used_memory:(\d+)/) ?? [])[1];
  await client.config("SET", "maxmemory-policy", "noeviction");
  await client.config("SET", "maxmemory", String(Number(used) - FILL_MARGIN_BYTES));
}
