/**
 * Creates ioredis clients for the store from a plain target description, so workers, the operator and
 * tests configure Redis the same way: a URL for one server, or a list of `host:port` seed nodes for a
 * Redis Cluster.
 */

import type { ClusterOptions, RedisOptions } from "ioredis";
import { Cluster, Redis } from "ioredis";
import { isCluster } from "./batch.ts";
import type { RedisClient } from "./commands.ts";
import { invalidArgument } from "./errors.ts";

/**
 * Where the store's Redis is: a standalone server, or the seed nodes of a cluster (with the user name
 * and password every node of a password-protected cluster wants, if any).
 */
export type RedisTarget =
  | { readonly url: string }
  | { readonly clusterNodes: readonly string[]; readonly username?: string; readonly password?: string };

/** A Redis Cluster's seed nodes (`host:port`) and the credentials that apply to every node. */
export interface ClusterTarget {
  readonly clusterNodes: string[];
  readonly username?: string;
  readonly password?: string;
}

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
  /**
   * For a Cluster: how many times the client tries to reach the seed nodes (to learn the slot map)
   * before it gives up, failing its queued commands and ending (status "end"). Unset: it tries for
   * ever, ioredis's default, and a command sent while no node answers (all down, a wrong password)
   * waits for ever: neither maxRetriesPerRequest nor commandTimeoutMs applies to a command the
   * cluster client has not sent yet. A caller that must not hang (the operator's reconciles) sets it.
   */
  readonly clusterConnectAttempts?: number;
}

/** Parses `host:port,host:port` into cluster seed nodes (see parseClusterTarget). */
export function parseClusterNodes(list: string): string[] {
  return parseClusterTarget(list).clusterNodes;
}

/**
 * Parses a Redis Cluster's seed list: comma-separated nodes, each `host:port` or, for a cluster that
 * wants a password, `redis://[user]:password@host:port` (user name and password percent-encoded as in
 * a store URL). Credentials apply to every node, so one seed may carry them
 * (`redis://:pw@redis-0:6379,redis-1:6379`); seeds carrying different ones are refused. The list
 * comes from a Secret: messages mask what stands before an '@' and never quote a password.
 */
export function parseClusterTarget(list: string): ClusterTarget {
  const nodes: string[] = [];
  let credentials: { username: string; password: string } | undefined;
  for (const node of list
    .split(",")
    .map((each) => each.trim())
    .filter((each) => each.length > 0)) {
    const masked = JSON.stringify(node.replace(/^.*@/, "***@"));
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(node)) {
      const seed = parseSeedUrl(node, masked);
      if (
        credentials !== undefined &&
        seed.credentials !== undefined &&
        (credentials.username !== seed.credentials.username ||
          credentials.password !== seed.credentials.password)
      )
        throw invalidArgument(
          "cluster nodes carry different user names or passwords; one applies to every node, so give it once (redis://[user]:password@host:port on one seed)",
        );
      credentials ??= seed.credentials;
      nodes.push(seed.node);
      continue;
    }
    if (!/^[^:\s@/]+:\d{1,5}$/.test(node)) throw invalidArgument(`cluster node ${masked} is not host:port`);
    nodes.push(node);
  }
  if (nodes.length === 0) throw invalidArgument("cluster node list is empty");
  return {
    clusterNodes: nodes,
    ...(credentials?.username ? { username: credentials.username } : {}),
    ...(credentials?.password ? { password: credentials.password } : {}),
  };
}

/** One seed given as `redis://[user[:password]@]host:port`: its `host:port` and credentials. */
function parseSeedUrl(
  node: string,
  masked: string,
): { node: string; credentials?: { username: string; password: string } } {
  let parsed: URL;
  try {
    parsed = new URL(node);
  } catch {
    throw invalidArgument(`cluster node ${masked} is not host:port or redis://[user]:password@host:port`);
  }
  if (parsed.protocol !== "redis:")
    throw invalidArgument(
      `cluster node ${masked} is not host:port or redis://[user]:password@host:port (rediss://, TLS to a Redis Cluster, is not supported)`,
    );
  if (`${parsed.pathname}${parsed.search}${parsed.hash}`.includes("@") || parsed.hash !== "")
    throw invalidArgument(
      `cluster node ${masked} has '@' or '#' after its host; percent-encode # / ? @ in its user name and password (%23 %2F %3F %40)`,
    );
  if (parsed.hostname === "" || parsed.port === "")
    throw invalidArgument(`cluster node ${masked} has no host:port`);
  if (!/^\/?$/.test(parsed.pathname) || parsed.search !== "")
    throw invalidArgument(`cluster node ${masked} has a path; a Redis Cluster has only database 0`);
  const hostPort = `${parsed.hostname}:${parsed.port}`;
  if (parsed.username === "" && parsed.password === "") return { node: hostPort };
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(parsed.username);
    password = decodeURIComponent(parsed.password);
  } catch {
    throw invalidArgument(
      `cluster node ${masked} has a user name or password that is not percent-encoded right`,
    );
  }
  return { node: hostPort, credentials: { username, password } };
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
    redisOptions: {
      ...common,
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
    },
    enableAutoPipelining: false,
    // Reads go to masters: a replica may lag behind a flip, and the store promises read-your-flip.
    scaleReads: "master",
    ...(options.clusterConnectAttempts !== undefined
      ? {
          clusterRetryStrategy: (times: number) =>
            times >= options.clusterConnectAttempts! ? null : Math.min(100 + times * 2, 2000),
        }
      : {}),
  };
  // ioredis says only that it could not read the slot map; the node's own answer (a standalone
  // Redis: "ERR This instance has cluster support disabled"; a wrong password) says why.
  return new Cluster(startupNodes, clusterOptions).on("error", (error: Error & { lastNodeError?: Error }) =>
    onError(
      error.lastNodeError === undefined
        ? error
        : new Error(`${error.message} (a node answered: ${error.lastNodeError.message})`),
    ),
  );
}

/**
 * Drops the client's connection at once, whatever it is doing, failing every command it holds
 * ("Connection is closed"); the client ends. ioredis's `disconnect()` alone closes the socket and fails
 * the commands as it closes, but a client between reconnect attempts (a store down or restarting, or
 * after a timed-out command) has no socket to close: it only cancels the next attempt, and the
 * commands it queued meanwhile, a QUIT included, wait out their command timeout (10 s and more) and
 * hold the process that long (redis/ioredis#2169). There a connect cancelled in the same tick ends it:
 * the connector gives up before it opens a socket and fails the queue.
 *
 * A Cluster client ends, and fails the commands it queued while it had no slot map, only once its
 * last node connection has closed (ConnectionPool "drain" -> "close" -> handleCloseEvent -> flushQueue
 * in ioredis's built/cluster/index.js). With every node lost it holds none: between attempts to read
 * the slot map ("reconnecting") `disconnect()` only cancels the next attempt, and the client stays
 * "disconnecting" for ever with that queue, which no command timeout covers (one starts when a node
 * takes the command). So the close is run here at once (also where node sockets would still have to
 * close): with disconnect()'s manuallyClosing set it ends the client and rejects the queue ("None of
 * startup nodes is available"); a command retried later (a redirection) then finds it ended and fails.
 */
export function dropConnection(client: RedisClient): void {
  client.disconnect();
  if (isCluster(client)) {
    // Private in ioredis's types, but the one way to end a Cluster client that holds no connection.
    if (client.status !== "end") (client as unknown as { handleCloseEvent: () => void }).handleCloseEvent();
    return;
  }
  if (client.status !== "reconnecting") return;
  client.connect().catch(() => undefined);
  client.disconnect();
}
