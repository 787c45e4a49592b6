/**
 * Creates ioredis clients for the store from a plain target description, so workers, the operator and
 * tests configure Redis the same way: a URL for one server, or a list of `host:port` seed nodes for a
 * Redis Cluster.
 */

import type { ClusterOptions, RedisOptions } from "ioredis";
import { Cluster, Redis } from "ioredis";
import type { RedisClient } from "./commands.ts";
import { invalidArgument } from "./errors.ts";

/** Where the store's Redis is: a standalone server or the seed nodes of a cluster. */
export type RedisTarget = { readonly url: string } | { readonly clusterNodes: readonly string[] };

/** Client options the caller may tune; everything else has store-appropriate defaults. */
export interface ConnectOptions {
  /** Shown in CLIENT LIST; helps operators find a misbehaving process. */
  readonly connectionName?: string;
  /**
   * How many reconnect attempts a queued command waits for before failing. The writer retries on its
   * own deadline. Default 3, which with ioredis's reconnect backoff (up to 5 s between attempts) is
   * still up to ~20 s into an outage; `StoreReader` therefore fails lookups at once while the
   * connection is down instead of queuing them.
   */
  readonly maxRetriesPerRequest?: number;
  /** Per-command timeout in ms; unset means none. */
  readonly commandTimeoutMs?: number;
  /**
   * Called with connection-level errors (refused, reset, ...). Commands report their own failures;
   * these events are for logging. Without a listener ioredis would print every one to stderr.
   */
  readonly onConnectionError?: (error: Error) => void;
}

/** Parses `host:port,host:port` into cluster seed nodes. */
export function parseClusterNodes(list: string): string[] {
  const nodes = list
    .split(",")
    .map((node) => node.trim())
    .filter((node) => node.length > 0);
  for (const node of nodes) {
    // The list comes from a Secret: a redis:// URL pasted there carries a password, which must not
    // reach the message (and so the log); what stands before an '@' is masked.
    if (!/^[^:\s]+:\d{1,5}$/.test(node))
      throw invalidArgument(`cluster node ${JSON.stringify(node.replace(/^.*@/, "***@"))} is not host:port`);
  }
  if (nodes.length === 0) throw invalidArgument("cluster node list is empty");
  return nodes;
}

/**
 * Throws INVALID_ARGUMENT unless `url` is `redis://` or `rediss://` with a host and at most a database
 * number as its path. ioredis takes any scheme (and then only reports "Reached the max retries per
 * request limit"), and on a non-numeric database path sends SELECT NaN, whose rejection it never
 * handles: the process dies. The URL comes from a user's Secret, so the messages never echo it whole
 * (it may hold a password).
 */
export function assertStoreUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The advice names no URL with user-info: the operator masks "scheme://…@" in status messages.
    throw invalidArgument(
      "store URL is not a URL; expected redis://host[:port][/db] or rediss://..., with user:password@ before the host if Redis wants them (percent-encode characters such as # / ? @ in its user name and password)",
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw invalidArgument(`store URL scheme "${parsed.protocol}" is not redis: or rediss:`);
  // With an unencoded # / ? or @ in the password, part of it parses as the host and the rest lands
  // after it: refused before any message can quote the host or the path.
  if (`${parsed.pathname}${parsed.search}${parsed.hash}`.includes("@") || parsed.hash !== "")
    throw invalidArgument(
      "store URL has '@' or '#' after its host; percent-encode # / ? @ in its user name and password (%23 %2F %3F %40)",
    );
  if (parsed.hostname === "") throw invalidArgument("store URL has no host");
  if (!/^\/?([0-9]{1,4})?$/.test(parsed.pathname))
    throw invalidArgument(`store URL path "${parsed.pathname}" is not a database number such as /0`);
}

/** Opens a client for the target. The caller owns it and must `quit()` it. */
export function connectRedis(target: RedisTarget, options: ConnectOptions = {}): RedisClient {
  if ("url" in target) assertStoreUrl(target.url);
  const common: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 3,
    // Batching is explicit (see batch.ts); automatic pipelining would only reorder it.
    enableAutoPipelining: false,
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
    ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  const onError = options.onConnectionError ?? (() => undefined);
  if ("url" in target) {
    // A failover behind a Service (Sentinel, a Redis operator) moves the Service to the promoted
    // replica, but connections opened before stay with the demoted primary, which answers every write
    // READONLY for as long as they live: retries on them never succeed. Only a new connection reaches
    // the new primary. (A Cluster client follows failovers through its slot map instead.)
    const reconnectOnError = (error: Error) => error.message.startsWith("READONLY");
    return new Redis(target.url, { ...common, reconnectOnError }).on("error", onError);
  }
  const startupNodes = target.clusterNodes.map((node) => {
    const separator = node.lastIndexOf(":");
    return { host: node.slice(0, separator), port: Number(node.slice(separator + 1)) };
  });
  const clusterOptions: ClusterOptions = {
    redisOptions: common,
    enableAutoPipelining: false,
    // Reads go to masters: a replica may lag behind a flip, and the store promises read-your-flip.
    scaleReads: "master",
  };
  return new Cluster(startupNodes, clusterOptions).on("error", onError);
}
