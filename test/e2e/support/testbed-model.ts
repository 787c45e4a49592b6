// The `minilm` EmbeddingModel of the end-to-end tests: a file of the testbed's model folder, read by
// the pods through the `model` claim bound to that folder (the local-node convention); fetch-model
// copies it into the pod's model volume and verifies the checksum.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Json } from "../../integration/operator/operator-harness.ts";
import { requireEnv } from "../../support/env.ts";

/** sha256 (hex) of a file of the testbed's model folder. */
export const sha256Of = (file: string) =>
  createHash("sha256")
    .update(readFileSync(join(requireEnv("JUDE_MODEL_DIR"), file)))
    .digest("hex");

/** The model serving `file` (model.onnx, model.int8.onnx) at `version`; `sha256` overrides its digest. */
export function testbedModel(
  namespace: string,
  options: { version: string; file: string; prompts: Json; promotion?: Json; sha256?: string },
): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "minilm", namespace },
    spec: {
      version: options.version,
      model: {
        uri: `pvc://model/${options.file}`,
        sha256: options.sha256 ?? sha256Of(options.file),
        dimensions: 384,
      },
      prompts: options.prompts,
      serving: { replicas: 1 },
      ...(options.promotion !== undefined ? { promotion: options.promotion } : {}),
    },
  };
}
