// The objects of the operator benchmark: N one-replica CPU EmbeddingModels and one NearlinePipeline
// per model, all in one namespace on the testbed's kwok nodes (pods only pretend to run, so the
// figures are the operator's and the control plane's alone).

type Json = Record<string, unknown>;

/** Name of the Secret every benchmark pipeline reads its store URL from. */
export const benchStoreSecret = "bench-store";

/** A one-replica CPU model; the checksum pins the digest so pipelines need not wait for serving. */
export function benchModel(namespace: string, name: string): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name, namespace },
    spec: {
      version: "v1",
      model: { uri: "file:///opt/models/minilm/model.onnx", sha256: "0".repeat(64), dimensions: 384 },
      prompts: { job: "Job: {{title}}" },
      // Tolerating the GPU taint lets the pods spread over all three kwok nodes.
      serving: { replicas: 1, tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }] },
    },
  };
}

/** A one-worker pipeline of `model`; nothing connects to its Kafka or Redis during the benchmark. */
export function benchPipeline(namespace: string, name: string, model: string): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name, namespace },
    spec: {
      modelRef: { name: model },
      entity: "job",
      source: { kafka: { bootstrapServers: ["kafka.bench.svc:9092"], topic: `${name}.changelog` } },
      decode: { format: "json", keyPath: "$.jobId" },
      extract: { title: "$.title" },
      sinks: { store: { name: `store-${model}`, urlSecretRef: { name: benchStoreSecret, key: "url" } } },
      workers: { replicas: 1 },
    },
  };
}

/** The Secret the pipelines reference (never connected to). */
export function benchSecret(namespace: string): Json {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: benchStoreSecret, namespace },
    stringData: { url: "redis://redis.bench.svc:6379" },
  };
}
