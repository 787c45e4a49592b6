/** Opens the pipeline's versioned store from its config section (URL from a Secret). */
import {
  StoreError,
  StoreErrorCodes,
  connectRedis,
  dropConnection,
  openStore,
  parseClusterTarget,
  type RedisClient,
  type Store,
  type StoreMetrics,
} from "../../store/index.ts";
import { untilAborted } from "../../plumbing/until-aborted.ts";
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

/**
 * Connects and opens (creating if needed) the store; the caller owns and quits the client.
 * `options.signal`: its abort drops the connection while the open is still under way (dropConnection),
 * failing the open at once. A caller that stops waiting for the open at its abort (a bootstrap shard
 * at SIGTERM) would otherwise leave it to a store that hangs, or a Cluster with no node up, for the
 * open's command timeout (10 s), its connection keeping the process alive that long.
 */
export async function openPipelineStore(
  section: StoreSectionConfig,
  options: { connectionName: string; metrics?: StoreMetrics; signal?: AbortSignal | undefined },
): Promise<{ client: RedisClient; store: Store }> {
  const secret = readSecret(section.url, `store ${section.name} URL`);
  let connectionError: Error | undefined;
  const connect = {
    connectionName: options.connectionName,
    commandTimeoutMs: storeCommandTimeoutMs + (section.durability?.timeoutMs ?? 0),
    onConnectionError: (error: Error) => (connectionError = error),
  };
  const client = section.cluster
    ? connectRedis(parseClusterTarget(secret), connect)
    : connectRedis({ url: secret }, connect);
  const drop = (): void => dropConnection(client);
  if (options.signal?.aborted === true) drop();
  else options.signal?.addEventListener("abort", drop, { once: true });
  try {
    const opening = openStore(client, {
      name: section.name,
      create: true,
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    });
    const store = section.cluster ? await untilClusterAnswers(opening, () => connectionError) : await opening;
    return { client, store };
  } catch (error) {
    client.disconnect();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", drop);
  }
}

/**
 * `opening`, failed as STORE_UNAVAILABLE (with the seeds' last connection error) when no node of the
 * Cluster has answered within the command timeout. A Cluster client queues commands until it has read
 * the slot map, for ever (its command timeout starts only once a command reaches a node), and its own
 * connection errors go to an event: unbounded, a start while the Cluster is down, or wants a password
 * the Secret lacks, waited without a word, where the caller's retries log and count a standalone
 * store's outage. Bounded here only: the open client keeps reconnecting through later outages.
 */
async function untilClusterAnswers<T>(opening: Promise<T>, lastError: () => Error | undefined): Promise<T> {
  const bound = new AbortController();
  const timer = setTimeout(() => {
    const cause = lastError();
    bound.abort(
      new StoreError(
        StoreErrorCodes.STORE_UNAVAILABLE,
        `no node of the Redis Cluster answered within ${storeCommandTimeoutMs} ms${cause === undefined ? "" : `: ${cause.message}`}`,
        cause === undefined ? {} : { cause },
      ),
    );
  }, storeCommandTimeoutMs);
  try {
    // Abandoned at the bound: it fails as the caller disconnects the client.
    return await untilAborted(opening, bound.signal);
  } finally {
    clearTimeout(timer);
  }
}
