// Where a pipeline's store lives, from the value of its store Secret, for telling whether two
// pipelines of one model write to the same store (or a bootstrap Job to the store its pipeline left):
// the same store name on another server, database or Redis Cluster is another store, which the model
// never flips or bootstraps. Credentials are left out (pipelines may reach one store as different
// users) and never reach a status message.

import { parseClusterTarget } from "../../store/index.ts";

/** The scheme of a Redis Cluster's endpoint: `redis-cluster://host:port,host:port` (seeds sorted). */
const clusterScheme = "redis-cluster://";

/**
 * The endpoint of a store Secret's value. A URL (`cluster` false): `redis://host:port/db`, host
 * lowercased, port 6379 and database 0 when unset, TLS or not alike. A seed list (`cluster` true, as
 * spec.sinks.store.cluster): `redis-cluster://` and its seeds `host:port`, hosts lowercased, sorted,
 * without duplicates. Undefined when the value cannot be parsed (the worker reports that itself).
 * Hosts named in two ways (an IP and a DNS name) differ here: name them the same way in every Secret.
 */
export function storeEndpoint(value: string, cluster = false): string | undefined {
  if (cluster) return clusterEndpoint(value);
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return undefined;
  const db = parsed.pathname.replace(/^\/+/, "") || "0";
  return `redis://${parsed.hostname.toLowerCase()}:${parsed.port || "6379"}/${db}`;
}

/** The endpoint of a seed list (store/connection.ts parseClusterTarget), its credentials left out. */
function clusterEndpoint(list: string): string | undefined {
  let nodes: string[];
  try {
    nodes = parseClusterTarget(list).clusterNodes;
  } catch {
    return undefined;
  }
  const seeds = new Set(
    nodes.map((node) => {
      const separator = node.lastIndexOf(":");
      return `${node.slice(0, separator).toLowerCase()}:${Number(node.slice(separator + 1))}`;
    }),
  );
  return `${clusterScheme}${[...seeds].sort().join(",")}`;
}

/**
 * Whether two endpoints name one store: equal `redis://` endpoints, or two Cluster endpoints sharing
 * any seed (every seed is a node of its Cluster, and a node belongs to one Cluster, so seed lists
 * naming one Cluster through different nodes still count as one). A Cluster and a standalone server
 * never do.
 */
export function sameStoreEndpoint(a: string, b: string): boolean {
  if (a.startsWith(clusterScheme) && b.startsWith(clusterScheme)) {
    const seeds = new Set(a.slice(clusterScheme.length).split(","));
    return b
      .slice(clusterScheme.length)
      .split(",")
      .some((seed) => seeds.has(seed));
  }
  return a === b;
}
