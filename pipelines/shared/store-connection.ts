/** Opens the pipeline's versioned store from its config section (URL from a Secret). */
import {
  connectRedis,
  openStore,
  parseClusterNodes,
  type RedisClient,
  type Store,
  type StoreMetrics,
} from "../../store/index.ts";
import { readSecret } from "./config-common.ts";

export interface StoreSectionConfig {
  name: string;
  url: { env?: string | undefined; file?: string | undefined };
  cluster: boolean;
}

/** Connects and opens (creating if needed) the store; the caller owns and quits the client. */
export async function openPipelineStore(
  section: StoreSectionConfig,
  options: { connectionName: string; metrics?: StoreMetrics },
): Promise<{ client: RedisClient; store: Store }> {
  const secret = readSecret(section.url, `store ${section.name} URL`);
  const client = section.cluster
    ? connectRedis({ clusterNodes: parseClusterNodes(secret) }, { connectionName: options.connectionName })
    : connectRedis({ url: secret }, { connectionName: options.connectionName });
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
