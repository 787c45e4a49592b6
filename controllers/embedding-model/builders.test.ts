import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseServingConfig } from "../../serving/config.ts";
import { checkGolden } from "../shared/golden.ts";
import { annotationKeys } from "../shared/labels.ts";
import { testPlacement } from "../shared/test-placement.ts";
import { desiredQueryService } from "./service.ts";
import { configFiles, desiredServingConfig, sha256Hex } from "./serving-config.ts";
import { exampleModel, httpsModel, testImages } from "./test-models.ts";
import { desiredVersionObjects } from "./version-objects.ts";

const goldenDir = join(import.meta.dirname, "golden");

type Rendered = { kind: string; data?: Record<string, string>; spec?: Record<string, unknown> };

function byKind(objects: object[], kind: string): Rendered {
  const found = (objects as Rendered[]).find((object) => object.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} rendered`);
  return found;
}

describe("EmbeddingModel builders", () => {
  it("render the example GPU model's version, placed by the operator's defaults, as in the golden file", () => {
    const model = exampleModel();
    const objects = [
      ...desiredVersionObjects(model, testImages, testPlacement),
      desiredQueryService(model, model.spec.version),
    ];
    expect(checkGolden(join(goldenDir, "gpu-pvc-autoscaled.yaml"), objects)).toBeUndefined();
  });

  it("render the https CPU model with TLS and a token as in the golden file", () => {
    const model = httpsModel();
    const objects = [
      ...desiredVersionObjects(model, testImages),
      desiredQueryService(model, model.spec.version),
    ];
    expect(checkGolden(join(goldenDir, "cpu-https-tls.yaml"), objects)).toBeUndefined();
  });

  it("render a serving config jude serve accepts", () => {
    for (const model of [exampleModel(), httpsModel()]) {
      expect(() => parseServingConfig(desiredServingConfig(model))).not.toThrow();
    }
  });

  it("roll the pods when the batching config changes, and only then", () => {
    const model = exampleModel();
    const hash = (objects: object[]) =>
      (
        byKind(objects, "Deployment").spec as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations[annotationKeys.configHash];
    const before = hash(desiredVersionObjects(model, testImages));
    expect(hash(desiredVersionObjects(exampleModel(), testImages))).toBe(before);
    model.spec.serving.batching.maxBatchSize = 16;
    expect(hash(desiredVersionObjects(model, testImages))).not.toBe(before);
  });

  it("verify the rendered manifest with the checksum of exactly what the ConfigMap holds", () => {
    const objects = desiredVersionObjects(exampleModel(), testImages);
    const manifest = byKind(objects, "ConfigMap").data?.[configFiles.manifest] ?? "";
    const pod = (
      byKind(objects, "Deployment").spec as {
        template: { spec: { initContainers: { name: string; args: string[] }[] } };
      }
    ).template.spec;
    const manifestInit = pod.initContainers.find((container) => container.name === "model-manifest");
    expect(manifestInit?.args).toContain(sha256Hex(manifest));
    expect(JSON.parse(manifest).files).toEqual({
      fp32: "model.onnx",
      tokenizer: "../jude/pvc/jude-models/all-minilm-l6-v2/tokenizer.json",
    });
  });

  it("leave replicas to the HPA when autoscaling, and render no HPA with fixed replicas", () => {
    const autoscaled = desiredVersionObjects(exampleModel(), testImages);
    expect(byKind(autoscaled, "Deployment").spec?.replicas).toBeUndefined();
    expect(byKind(autoscaled, "HorizontalPodAutoscaler").spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 8,
    });
    const fixed = desiredVersionObjects(httpsModel(), testImages);
    expect(byKind(fixed, "Deployment").spec?.replicas).toBe(3);
    expect((fixed as Rendered[]).some((object) => object.kind === "HorizontalPodAutoscaler")).toBe(false);
  });
});
