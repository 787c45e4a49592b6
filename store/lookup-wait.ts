/**
 * How long a reader's lookup may wait for Redis. Readers do not retry and do not wait for a reconnect:
 * the ranking service calling them owns the latency budget and falls back on a fast, clear
 * STORE_UNAVAILABLE, which is also what tells it (and `jude_store_errors_total`) that Redis is away.
 */

import { isCluster } from "./batch.ts";
import { StoreError, StoreErrorCodes } from "./errors.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/**
 * Throws STORE_UNAVAILABLE at once while the store's standalone connection is down. ioredis would
 * queue the lookup until the connection is back or its `maxRetriesPerRequest` reconnect attempts
 * failed, and with its backoff (up to 5 s between attempts) a lookup made during an outage waited up
 * to ~20 s. A Cluster client stays `ready` while it follows failovers, which batch.ts handles.
 */
export function assertConnected(store: Store): void {
  const client = store.client;
  if (isCluster(client) || client.status === "ready") return;
  throw recordFailure(
    store,
    "read",
    new StoreError(
      StoreErrorCodes.STORE_UNAVAILABLE,
      `read: Redis unavailable: the connection is ${client.status}, not ready`,
    ),
  );
}

/**
 * Fails `lookup` with STORE_UNAVAILABLE once it waited `timeoutMs` (0: never). The failure reads as
 * ioredis's own command timeout, so recordFailure replaces a standalone connection that went silent
 * (a hung server, a host gone without closing it) as the store does after a command timeout, and
 * re-reads a Cluster's slot map; commands still pending are sent again on the new connection.
 */
export function withinDeadline<T>(store: Store, lookup: Promise<T>, timeoutMs: number): Promise<T> {
  if (timeoutMs <= 0) return lookup;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const timeout = new Error(`Command timed out: no answer within ${timeoutMs} ms`);
      reject(recordFailure(store, "read", timeout));
    }, timeoutMs);
  });
  return Promise.race([lookup, expired]).finally(() => clearTimeout(timer));
}
