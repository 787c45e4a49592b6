// JUDE objects in the middle of a promotion (minilm-v1 active, minilm-v2 being promoted), shared by
// the plugin's unit tests, and a kubeconfig for a fake API server.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BootstrapRun, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { parseBootstrapRun, parseEmbeddingModel, parseNearlinePipeline } from "../../crds/index.ts";

const time = "2026-12-01T10:00:00Z";
const condition = (type: string, status: "True" | "False" | "Unknown", message: string) => ({
  type,
  status,
  reason: status === "True" ? "Passed" : "Waiting",
  message,
  lastTransitionTime: time,
});

/** An EmbeddingModel promoting minilm-v2 over the active minilm-v1, with Manual cutover. */
export function promotingModel(): EmbeddingModel {
  return parseEmbeddingModel({
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "minilm", namespace: "recs", uid: "u1" },
    spec: {
      version: "minilm-v2",
      model: { uri: "pvc://models/minilm/int8.onnx", dimensions: 384, precision: "int8" },
      prompts: { job: "Job: {{title}}" },
      promotion: { cutover: "Manual" },
    },
    status: {
      activeVersion: "minilm-v1",
      conditions: [
        condition("Ready", "True", "minilm-v1 is active"),
        condition("ServingReady", "True", "2/2 replicas ready"),
        condition("BootstrapComplete", "True", "12000 entities"),
        condition("CaughtUp", "True", "lag 0.4 s <= 30 s"),
        { ...condition("CoverageMet", "False", "coverage 0.95 < 0.99"), reason: "CoverageBelowGate" },
      ],
      versions: [
        { version: "minilm-v0", phase: "Retained", activatedTime: "2026-11-01T00:00:00Z" },
        { version: "minilm-v1", phase: "Active", readyReplicas: 2, coverage: 1, activatedTime: time },
        { version: "minilm-v2", phase: "CatchingUp", readyReplicas: 2, coverage: 0.95, lagSeconds: 0.4 },
      ],
    },
  });
}

/** The jobs pipeline of that model, with figures for both versions. */
export function jobsPipeline(): NearlinePipeline {
  return parseNearlinePipeline({
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name: "jobs", namespace: "recs" },
    spec: {
      modelRef: { name: "minilm" },
      entity: "job",
      source: { kafka: { bootstrapServers: ["kafka:9092"], topic: "jobs.changelog" } },
      extract: { title: "$.title" },
      sinks: { store: { name: "recs", urlSecretRef: { name: "redis", key: "url" } } },
    },
    status: {
      conditions: [condition("Ready", "True", "workers ready")],
      versions: [
        { version: "minilm-v1", lag: 0, embedded: 9000, skippedUnchanged: 3000, deadLettered: 2 },
        { version: "minilm-v2", lag: 12, embedded: 400 },
      ],
    },
  });
}

/** The bootstrap of minilm-v2, 42% done. */
export function bootstrapOfV2(): BootstrapRun {
  return parseBootstrapRun({
    apiVersion: "jude.dev/v1alpha1",
    kind: "BootstrapRun",
    metadata: { name: "jobs-minilm-v2", namespace: "recs" },
    spec: { pipelineRef: { name: "jobs" }, modelVersion: "minilm-v2", source: { kafkaSnapshot: {} } },
    status: { phase: "Running", progress: { total: 12000, processed: 5040, percent: 42 } },
  });
}

/**
 * Writes a kubeconfig `folder/name` whose one context (dev, namespace recs) names the plain-HTTP API
 * server on 127.0.0.1:`port`, and returns its path.
 */
export function kubeconfigFor(folder: string, name: string, port: number): string {
  const file = join(folder, name);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
      ],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "dev", context: { cluster: "c", user: "u", namespace: "recs" } }],
      "current-context": "dev",
    }),
  );
  return file;
}

/** The API group's discovery answer (`/apis/jude.dev/v1alpha1`) the client library asks for first. */
export const judeApiResources = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: "jude.dev/v1alpha1",
  resources: ["EmbeddingModel", "NearlinePipeline", "BootstrapRun"].map((kind) => ({
    name: `${kind.toLowerCase()}s`,
    singularName: kind.toLowerCase(),
    namespaced: true,
    kind,
    verbs: ["get", "list", "patch"],
  })),
};

/** The API server's Status of a GET of a named object that does not exist (404). */
export const notFoundStatus = {
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  reason: "NotFound",
  code: 404,
};

/** What an API server with the JUDE kinds and no objects answers a GET of `url`: discovery, or an empty list. */
export function emptyClusterAnswer(url: string | undefined): unknown {
  return url === "/apis/jude.dev/v1alpha1"
    ? judeApiResources
    : { apiVersion: "v1", kind: "List", metadata: {}, items: [] };
}
