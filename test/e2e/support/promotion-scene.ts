// The setting both promotion end-to-end tests start from: their namespace, a two-partition changelog
// holding the snapshot's job events, the store opened with a reader, and `jude operator` as a process
// with the jobs pipeline and the first model applied.
import {
  connectRedis,
  openStore,
  parseClusterNodes,
  StoreReader,
  type RedisClient,
  type Store,
} from "../../../store/index.ts";
import type { Json } from "../../integration/operator/operator-harness.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { applyAll, createE2eNamespace } from "./namespace.ts";
import { startOperatorProcess, type OperatorProcess } from "./operator-process.ts";
import { jobEvent, jobsPipeline } from "./promotion-objects.ts";

export interface PromotionScene {
  topic: string;
  redis: RedisClient;
  store: Store;
  reader: StoreReader;
  operator: OperatorProcess;
  removeNamespace: () => Promise<void>;
}

/** Sets the scene up; whatever was made is removed again when a step fails. */
export async function startPromotionScene(options: {
  namespace: string;
  topicPrefix: string;
  storeName: string;
  snapshotIds: readonly string[];
  /** The EmbeddingModel applied with the pipeline (its first version). */
  firstModel: Json;
  /** The store on the testbed's Redis Cluster (`spec.sinks.store.cluster: true`). */
  cluster?: boolean;
}): Promise<PromotionScene> {
  const { namespace, storeName } = options;
  const made: Partial<PromotionScene> = {};
  try {
    const cluster = options.cluster === true;
    made.removeNamespace = await createE2eNamespace(namespace, { cluster });
    made.topic = uniqueTopic(options.topicPrefix);
    await createTopics([made.topic], 2);
    await produceEvents(
      made.topic,
      options.snapshotIds.map((id, index) => jobEvent(id, index, `Engineer ${index % 10}`)),
    );
    made.redis = connectRedis(
      cluster
        ? { clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) }
        : { url: requireEnv("JUDE_REDIS_URL") },
    );
    made.store = await openStore(made.redis, { name: storeName, create: true });
    made.reader = await StoreReader.open(made.store);
    made.operator = await startOperatorProcess(namespace);
    await applyAll(namespace, [jobsPipeline(namespace, made.topic, storeName, cluster), options.firstModel]);
    return made as PromotionScene;
  } catch (error) {
    await stopPromotionScene(made);
    throw error;
  }
}

/** Stops the operator, closes the store and removes the namespace (each part only if it was made). */
export async function stopPromotionScene(
  scene: Partial<Pick<PromotionScene, "operator" | "reader" | "redis" | "removeNamespace">>,
): Promise<void> {
  await scene.operator?.stop();
  await scene.reader?.close();
  await scene.redis?.quit();
  await scene.removeNamespace?.();
}
