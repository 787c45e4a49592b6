// Where the operator reaches a pipeline's store: the value of its store Secret read as the workers
// read it (pipelines/shared/config-common.ts storeSection): a redis:// URL, or with
// spec.sinks.store.cluster a host:port,host:port list of Redis Cluster seed nodes (a seed may be
// redis://[user]:password@host:port for a password-protected Cluster).
import { assertStoreUrl } from "../../store/connection.ts";
import { invalidArgument } from "../../store/errors.ts";
import { isStoreError, parseClusterTarget, type RedisTarget } from "../../store/index.ts";

/**
 * How many times the operator's cluster clients try the seed nodes before their commands fail
 * (store/connection.ts clusterConnectAttempts): without a limit a Cluster no node of which answers
 * (all down, or one that wants a password the Secret lacks) holds the reconcile for ever.
 */
export const operatorClusterConnectAttempts = 5;

/**
 * The connection target of a store Secret's value. Throws INVALID_ARGUMENT when the value is not a
 * store URL (assertStoreUrl) or, with `cluster`, not a seed list, saying which form the Secret must hold (the message masks what
 * stands before an '@', so a pasted URL's password never reaches a status).
 */
export function storeTarget(value: string, cluster: boolean): RedisTarget {
  if (!cluster) {
    assertStoreUrl(value);
    return { url: value };
  }
  try {
    return parseClusterTarget(value);
  } catch (error) {
    if (!isStoreError(error)) throw error;
    throw invalidArgument(
      `spec.sinks.store.cluster is true, so the store Secret must hold the Redis Cluster's seed nodes as host:port,host:port (a seed may be redis://[user]:password@host:port when the Cluster wants a password): ${error.message}`,
    );
  }
}

/** The target's endpoint for messages: the URL's scheme, host and port, or the seed nodes. */
export function targetEndpoint(target: RedisTarget): string {
  if ("clusterNodes" in target)
    return `Redis Cluster ${target.clusterNodes.map((node) => node.replace(/^.*@/, "***@")).join(",")}`;
  try {
    const parsed = new URL(target.url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return "the URL in its Secret";
  }
}

/**
 * Which Redis database `target` names, without credentials: the URL's scheme, host, port and
 * database number (0 when it names none), or the Cluster's seed nodes. Two stores of one name on two
 * of these are two stores (the same server named in two ways reads as two; see store-claim.ts).
 */
export function targetDatabase(target: RedisTarget): string {
  if ("clusterNodes" in target) return targetEndpoint(target);
  try {
    const parsed = new URL(target.url);
    const database = parsed.pathname.replace(/^\//, "");
    return `${parsed.protocol}//${parsed.host}/${database === "" ? "0" : database}`;
  } catch {
    return "the URL in its Secret";
  }
}
