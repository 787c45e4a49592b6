/** Opens the pipeline's versioned store from its config section (URL from a Secret). */
import {
  connectRedis,
  openStore,
  parseClusterTarget,
  type RedisClient,
  type Store,
  type StoreMetrics,
} from "../../store/index.ts";
import { readSecret } from "./config-common.ts";

export interface StoreSectionConfig {
  name: string;
  url: { env?: string | undefined; file?: string | undefined };
  cluster: boolean;
  durability?: { timeoutMs: number } | undefined;
}

/**
 * How long one store command may wait for its answer, beyond a durability wait (WAIT/WAITAOF block
 * on the server for up to `durability.timeoutMs`). Without a deadline a command sent to a Redis that
 * hangs with its connection open (a stopped process, a stalled host, a link that drops packets
 * without a reset) waits forever: no error, no retry, no log, and the batch never ends. Timed out,
 * it fails as STORE_UNAVAILABLE and the writer and the batch retry it, counted and logged. The same
 * 10 s as the operator's store connection.
 */
export const storeCommandTimeoutMs = 10_000;

/** Connects and opens (creating if needed) the store; the caller owns and quits the client. */
export async function openPipelineStore(
  section: StoreSectionConfig,
  options: { connectionName: string; metrics?: StoreMetrics },
): Promise<{ client: RedisClient; store: Store }> {
  const secret = readSecret(section.url, `store ${section.name} URL`);
  const connect = {
    connectionName: options.connectionName,
    commandTimeoutMs: storeCommandTimeoutMs + (section.durability?.timeoutMs ?? 0),
  };
  const client = section.cluster
    ? connectRedis(parseClusterTarget(secret), connect)
    : connectRedis({ url: secret }, connect);
  try {
    const store = await openStore(client, {
      name: section.name,
      create: true,
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    });
    return { client, store };
  } catch (error) {
    client.disconnect();
    throw error;
  }
}
