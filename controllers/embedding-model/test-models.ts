// EmbeddingModels the builders' and decisions' tests render: the repository's example (GPU, pvc://,
// autoscaling) and a CPU model fetched over https with TLS, a bearer token and fixed replicas.
import { loadExample } from "../../test/fixtures/examples.ts";
import { parseEmbeddingModel, type EmbeddingModel } from "../../crds/index.ts";
import { imagesFor } from "../shared/image.ts";

/** The images the golden files are rendered with. */
export const testImages = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");

/** The example EmbeddingModel as stored in namespace recs. */
export function exampleModel(): EmbeddingModel {
  const object = loadExample("embedding-model.yaml");
  object.metadata = {
    ...(object.metadata as object),
    namespace: "recs",
    uid: "3f1c2a9e-0000-4000-8000-000000000001",
    generation: 3,
  };
  return parseEmbeddingModel(object);
}

/** A CPU model downloaded over https, with TLS and a bearer token, three fixed replicas. */
export function httpsModel(): EmbeddingModel {
  return parseEmbeddingModel({
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: {
      name: "minilm-cpu",
      namespace: "search",
      uid: "3f1c2a9e-0000-4000-8000-000000000002",
      generation: 1,
    },
    spec: {
      version: "v7",
      model: {
        uri: "https://models.example.com/minilm/v7/model.tar.gz",
        sha256: "a".repeat(64),
        dimensions: 384,
      },
      prompts: { query: "query: {{text}}" },
      serving: {
        replicas: 3,
        resources: { requests: { cpu: "2", memory: "2Gi" }, limits: { memory: "4Gi" } },
        nodeSelector: { "kubernetes.io/arch": "amd64" },
        tls: { secretName: "minilm-tls" },
        auth: { tokenSecretRef: { name: "minilm-token", key: "token" } },
      },
    },
  });
}
