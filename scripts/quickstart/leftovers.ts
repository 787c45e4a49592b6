// What a story run leaves outside Kubernetes, removed by `npm run quickstart -- down`: its Kafka topics
// and its workers' consumer groups, and every Redis key of its store. Only what the quickstart recorded
// is touched; each step is idempotent (absent things are skipped), so `down` can be run again.
import { setTimeout as sleep } from "node:timers/promises";
import { Admin } from "@platformatic/kafka";
import type { Cluster } from "ioredis";
import { connectRedis, defaultPrefix, isCluster, type RedisClient } from "../../store/index.ts";

/** How long a group whose members are gone but not yet expired may stay non-empty. */
const groupExpiryWaitMs = 60_000;

/**
 * Deletes the recorded consumer groups, then the recorded topics, each only if it exists. A group
 * still holds the workers' static members until their session times out (they do not leave on
 * shutdown), so a non-empty group is asked again for up to `groupWaitMs`.
 */
export async function deleteKafkaLeftovers(
  bootstrap: string,
  recorded: { topics: readonly string[]; groups: readonly string[] },
  options: { groupWaitMs?: number } = {},
): Promise<{ topics: string[]; groups: string[] }> {
  const admin = new Admin({ clientId: "jude-quickstart-down", bootstrapBrokers: [bootstrap] });
  try {
    const existingGroups = new Set((await admin.listGroups()).keys());
    const groups = recorded.groups.filter((group) => existingGroups.has(group));
    const deadline = Date.now() + (options.groupWaitMs ?? groupExpiryWaitMs);
    for (const group of groups) {
      for (;;) {
        try {
          await admin.deleteGroups({ groups: [group] });
          break;
        } catch (error) {
          if (!isNonEmptyGroup(error) || Date.now() > deadline) throw error;
          await sleep(1_000);
        }
      }
    }
    const existingTopics = new Set(await admin.listTopics());
    const topics = recorded.topics.filter((topic) => existingTopics.has(topic));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    return { topics, groups };
  } finally {
    await admin.close();
  }
}

/** Deletes every key of the named stores (control keys `{P}…`, buckets and checkpoints `{P:…}…`). */
export async function deleteStoreKeys(redisUrl: string, stores: readonly string[]): Promise<number> {
  const client = connectRedis({ url: redisUrl });
  try {
    let deleted = 0;
    for (const store of stores) {
      const prefix = escapeGlob(defaultPrefix(store));
      // Two patterns, so the store `a` never matches the keys of a store `ab`.
      for (const pattern of [`{${prefix}}*`, `{${prefix}:*`])
        for (const node of primaries(client)) deleted += await deleteMatching(node, pattern);
    }
    return deleted;
  } finally {
    client.disconnect();
  }
}

function primaries(client: RedisClient): RedisClient[] {
  return isCluster(client) ? (client as Cluster).nodes("master") : [client];
}

async function deleteMatching(node: RedisClient, pattern: string): Promise<number> {
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    // One key per call: on Cluster, keys of different slots cannot share a DEL.
    for (const key of keys) deleted += await node.unlink(key);
  } while (cursor !== "0");
  return deleted;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/** A NON_EMPTY_GROUP (68) answer, possibly inside the client's aggregate errors. */
function isNonEmptyGroup(error: unknown): boolean {
  const found = (error as { findBy?: (property: string, value: unknown) => unknown } | null)?.findBy?.(
    "apiId",
    "NON_EMPTY_GROUP",
  );
  return found !== null && found !== undefined;
}
