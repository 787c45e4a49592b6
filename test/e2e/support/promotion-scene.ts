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
import { readFileSync } from "node:fs";
import { getObject, type Json } from "../../integration/operator/operator-harness.ts";
import { kubectlJson } from "../../support/kubectl.ts";
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

/** The first `max` characters of `text`, marked when cut. */
const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * One paragraph of where the scene stands, for a wait's timeout message: a run of the whole suite
 * keeps only the failures' messages, so a promotion that stalls says there why (the model's
 * conditions and versions, its BootstrapRuns, the pods, the operator's last warnings).
 */
export async function describeScene(
  namespace: string,
  operator: OperatorProcess | undefined,
): Promise<string> {
  const parts: string[] = [];
  // Ready's message says what holds the object; the other conditions by type, status and reason.
  const conditions = (object: Json | undefined) =>
    (((object?.status as Json | undefined)?.conditions as Json[] | undefined) ?? [])
      .map((entry) =>
        entry.type === "Ready"
          ? `Ready=${entry.status as string}/${entry.reason as string}: ${cut(String(entry.message ?? ""), 400)}`
          : `${entry.type as string}=${entry.status as string}/${entry.reason as string}`,
      )
      .join("; ");
  try {
    const model = await getObject("embeddingmodel/minilm", namespace);
    const status = model?.status as Json | undefined;
    const versions = ((status?.versions as Json[] | undefined) ?? [])
      .map((entry) => `${entry.version as string}:${entry.phase as string}`)
      .join(",");
    parts.push(`model: active=${String(status?.activeVersion)} versions=[${versions}] ${conditions(model)}`);
    const runs = await kubectlJson<{ items: Json[] }>(["get", "bootstrapruns", "-n", namespace]);
    for (const run of runs.items)
      parts.push(
        `run ${(run.metadata as Json).name as string}: ${String((run.status as Json | undefined)?.phase)} ${conditions(run)}`,
      );
    const pods = await kubectlJson<{ items: Json[] }>(["get", "pods", "-n", namespace]);
    parts.push(
      `pods: ${pods.items
        .map((pod) => {
          const statuses = ((pod.status as Json).containerStatuses as Json[] | undefined) ?? [];
          const restarts = statuses.reduce((sum, entry) => sum + Number(entry.restartCount ?? 0), 0);
          return `${(pod.metadata as Json).name as string}=${(pod.status as Json).phase as string}/r${restarts}`;
        })
        .join(",")}`,
    );
  } catch (error) {
    parts.push(`(status not read: ${error instanceof Error ? error.message : String(error)})`);
  }
  if (operator !== undefined) {
    // Called as a wait times out: a log not read must not replace that timeout with its own error.
    try {
      const warnings = readFileSync(operator.process.logFile, "utf8")
        .split("\n")
        .filter((line) => /"level":(40|50|60)/.test(line))
        .slice(-4)
        .map((line) => cut(line, 400));
      parts.push(`operator warnings: ${warnings.join(" | ") || "none"}`);
    } catch (error) {
      parts.push(`(operator log not read: ${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return parts.join(" || ");
}
