import { join } from "node:path";
import type { V1Container } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseServingConfig } from "../../serving/config.ts";
import { checkGolden } from "../shared/golden.ts";
import { annotationKeys, labelKeys } from "../shared/labels.ts";
import { testPlacement, testPulledImages } from "../shared/test-placement.ts";
import { desiredQueryService } from "./service.ts";
import { configFiles, configHash, desiredServingConfig, sha256Hex } from "./serving-config.ts";
import { exampleModel, httpsModel, testImages } from "./test-models.ts";
import { desiredVersionObjects } from "./version-objects.ts";

const goldenDir = join(import.meta.dirname, "golden");

type Rendered = {
  kind: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
};

function byKind(objects: object[], kind: string): Rendered {
  const found = (objects as Rendered[]).find((object) => object.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} rendered`);
  return found;
}

describe("EmbeddingModel builders", () => {
  it("render the example GPU model's version, placed and pulled by the operator's defaults, as in the golden file", () => {
    const model = exampleModel();
    const objects = [
      ...desiredVersionObjects(model, testPulledImages, testPlacement),
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

  it("end every container's termination message with its last log lines when it fails without one", () => {
    // A server that cannot load its model, or a fetch that cannot download, exits 1 and writes no
    // termination-log file: the kubelet's fallback is what lets the status say why.
    const deployment = byKind(desiredVersionObjects(exampleModel(), testImages), "Deployment") as unknown as {
      spec: { template: { spec: { initContainers: V1Container[]; containers: V1Container[] } } };
    };
    const { initContainers, containers } = deployment.spec.template.spec;
    expect(
      [...initContainers, ...containers].map((container) => [
        container.name,
        container.terminationMessagePolicy,
      ]),
    ).toEqual([
      ["fetch-model", "FallbackToLogsOnError"],
      ["model-manifest", "FallbackToLogsOnError"],
      ["serve", "FallbackToLogsOnError"],
    ]);
  });

  it("tolerate the GPU taint unless the spec's own tolerations already cover its NoSchedule effect", () => {
    // Was: any spec toleration of the key with operator Exists counted as covering it, so one for
    // NoExecute only left GPU pods unable to schedule on nodes tainted nvidia.com/gpu:NoSchedule.
    const gpuTolerations = (own: object[]) => {
      const model = exampleModel();
      model.spec.serving.tolerations = own as typeof model.spec.serving.tolerations;
      const deployment = byKind(desiredVersionObjects(model, testImages), "Deployment") as unknown as {
        spec: { template: { spec: { tolerations?: { key?: string; effect?: string }[] } } };
      };
      return (deployment.spec.template.spec.tolerations ?? []).filter(
        (toleration) => toleration.key === "nvidia.com/gpu",
      );
    };
    const noSchedule = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
    const noExecute = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoExecute" };
    const everyEffect = { key: "nvidia.com/gpu", operator: "Exists" };
    expect(gpuTolerations([])).toEqual([noSchedule]);
    expect(gpuTolerations([noExecute])).toEqual([noExecute, noSchedule]);
    expect(gpuTolerations([everyEffect])).toEqual([everyEffect]);
    expect(gpuTolerations([noSchedule])).toEqual([noSchedule]);
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

  it("name the ConfigMap by its content, never rewriting the one older pods mount, and mount that name", () => {
    const model = exampleModel();
    const configName = (objects: object[]) => byKind(objects, "ConfigMap").metadata?.name;
    const mounted = (objects: object[]) =>
      (
        byKind(objects, "Deployment").spec as {
          template: { spec: { volumes: { name: string; configMap?: { name: string } }[] } };
        }
      ).template.spec.volumes.flatMap((volume) => volume.configMap?.name ?? []);
    const before = desiredVersionObjects(model, testImages);
    const hash = configHash(byKind(before, "ConfigMap").data!);
    expect(configName(before)).toBe(`${model.metadata.name}-${model.spec.version}-${hash.slice(0, 10)}`);
    expect(mounted(before)).toContain(configName(before));
    expect(configName(desiredVersionObjects(exampleModel(), testImages))).toBe(configName(before));
    model.spec.serving.batching.maxBatchSize = 16;
    const after = desiredVersionObjects(model, testImages);
    expect(configName(after)).not.toBe(configName(before));
    expect(mounted(after)).toContain(configName(after));
    expect(byKind(after, "ConfigMap").metadata?.labels).toMatchObject({
      [labelKeys.configOf]: `${model.metadata.name}-${model.spec.version}`,
    });
  });

  it("roll the pods when the certificate or key the server reads changes (it reads them once), not for other writes of the Secret or the token", () => {
    const tls = httpsModel().spec.serving.tls!.secretName;
    const token = httpsModel().spec.serving.auth!.tokenSecretRef.name;
    type Read = [name: string, resourceVersion: string, data: Record<string, string>];
    const issued: Read = [tls, "41", { "tls.crt": "certificate one", "tls.key": "key one", "ca.crt": "CA" }];
    const tokenRead: Read = [token, "7", { token: "t1" }];
    const annotations = (reads: Read[], model = httpsModel()) => {
      const versions = new Map(reads.map(([name, version]) => [name, version]));
      const secrets = Object.assign(
        new Map(
          reads.map(([name, , data]) => [
            name,
            new Map(Object.entries(data).map(([key, value]) => [key, Buffer.from(value)])),
          ]),
        ),
        { versions },
      );
      return (
        byKind(desiredVersionObjects(model, testImages, undefined, undefined, secrets), "Deployment")
          .spec as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations;
    };
    const before = annotations([issued, tokenRead]);
    expect(before[annotationKeys.secretVersions]).toMatch(new RegExp(`^${tls}@sha256:[0-9a-f]{16}$`));
    // A renewed certificate (cert-manager writes the Secret) changes the template.
    const renewed: Read = [tls, "42", { ...issued[2], "tls.crt": "certificate two", "tls.key": "key two" }];
    expect(annotations([renewed, tokenRead])[annotationKeys.secretVersions]).not.toBe(
      before[annotationKeys.secretVersions],
    );
    // A write that changes neither (annotations, a new ca.crt the server does not read) does not,
    // nor does a rotated token, which the server re-reads.
    expect(annotations([[tls, "43", issued[2]], tokenRead])).toEqual(before);
    expect(annotations([[tls, "44", { ...issued[2], "ca.crt": "another CA" }], tokenRead])).toEqual(before);
    expect(annotations([issued, [token, "8", { token: "t2" }]])).toEqual(before);
    // Without TLS there is nothing to name.
    expect(annotations([issued, tokenRead], exampleModel())[annotationKeys.secretVersions]).toBeUndefined();
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

  it("never take the only pod of an accelerated version down before its replacement is ready", () => {
    const strategy = (model: ReturnType<typeof exampleModel>) =>
      (byKind(desiredVersionObjects(model, testImages), "Deployment").spec as { strategy: unknown }).strategy;
    const replaceOneAtATime = { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
    const surgeFirst = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    // The example: a GPU model autoscaled from 2 replicas, so a rollout may dip by one.
    expect(strategy(exampleModel())).toEqual(replaceOneAtATime);
    const autoscaledFromOne = exampleModel();
    autoscaledFromOne.spec.serving.autoscaling!.minReplicas = 1;
    expect(strategy(autoscaledFromOne)).toEqual(surgeFirst);
    const fixed = (replicas: number | undefined) => {
      const model = exampleModel();
      delete model.spec.serving.autoscaling;
      if (replicas === undefined) delete model.spec.serving.replicas;
      else model.spec.serving.replicas = replicas;
      return model;
    };
    expect(strategy(fixed(undefined))).toEqual(surgeFirst);
    expect(strategy(fixed(1))).toEqual(surgeFirst);
    expect(strategy(fixed(2))).toEqual(replaceOneAtATime);
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
