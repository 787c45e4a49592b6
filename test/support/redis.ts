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
