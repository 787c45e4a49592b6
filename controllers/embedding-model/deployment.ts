// The Deployment serving one embedding version: pod scheduling from the spec (accelerator, NVIDIA
// taint toleration, node selector, affinity, priority), the volumes (config, model, memory-backed
// /dev/shm, /tmp, claims, Secrets by reference), the restricted security profile, a grace period that
// covers the preStop pause plus the server's drain, and the config hash that rolls pods on change.
import type { V1Deployment, V1Toleration, V1Volume } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { imagePullSecrets, withPullPolicy, type Images } from "../shared/image.ts";
import { annotationKeys, childLabels } from "../shared/labels.ts";
import { secretStampsOf, type SecretsAsRead } from "../shared/secret-wiring.ts";
import { servingName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import { placePod, type WorkloadPlacement } from "../shared/placement.ts";
import { restrictedPodSecurityContext } from "../shared/pod-security.ts";
import { modelSources } from "./model-source.ts";
import { drainTimeoutMs, servingTlsFiles } from "./serving-config.ts";
import { fetchModelContainers, preStopSeconds, servingContainer, volumeNames } from "./serving-container.ts";

/** The toleration of the taint the NVIDIA GPU operator puts on GPU nodes. */
export const nvidiaToleration: V1Toleration = {
  key: "nvidia.com/gpu",
  operator: "Exists",
  effect: "NoSchedule",
};

/** The image of the serving pods: the spec's, else the operator's (CUDA variant with an accelerator). */
export function servingImage(model: EmbeddingModel, images: Images): string {
  return (
    model.spec.serving.image ?? (model.spec.serving.accelerator === undefined ? images.jude : images.judeCuda)
  );
}

/** Replicas of the Deployment: fixed, or left to the HPA (undefined, so the apply never fights it). */
export function desiredReplicas(model: EmbeddingModel): number | undefined {
  const { serving } = model.spec;
  return serving.autoscaling === undefined ? (serving.replicas ?? 1) : undefined;
}

function tolerations(model: EmbeddingModel): V1Toleration[] {
  const fromSpec = (model.spec.serving.tolerations ?? []) as V1Toleration[];
  const gpu = model.spec.serving.accelerator?.resourceName === "nvidia.com/gpu";
  // Covered only by one that tolerates the NoSchedule taint: a NoExecute-only toleration of the key
  // would leave the pods unable to schedule on the GPU nodes.
  const covered = fromSpec.some(
    (toleration) =>
      toleration.key === nvidiaToleration.key &&
      toleration.operator === "Exists" &&
      (!toleration.effect || toleration.effect === nvidiaToleration.effect),
  );
  return gpu && !covered ? [...fromSpec, nvidiaToleration] : fromSpec;
}

function volumes(model: EmbeddingModel, configMapName: string): V1Volume[] {
  const { serving } = model.spec;
  const sources = modelSources(model.spec.model);
  return [
    { name: volumeNames.config, configMap: { name: configMapName } },
    { name: volumeNames.models, emptyDir: {} },
    // ONNX Runtime and tokenizers use shared memory; the container default of 64 MiB is too small.
    { name: volumeNames.shm, emptyDir: { medium: "Memory", sizeLimit: "1Gi" } },
    { name: volumeNames.tmp, emptyDir: { sizeLimit: "256Mi" } },
    ...sources.claims.map((claim) => ({
      name: volumeNames.claim(claim),
      persistentVolumeClaim: { claimName: claim, readOnly: true },
    })),
    ...(serving.tls === undefined
      ? []
      : [{ name: volumeNames.tls, secret: { secretName: serving.tls.secretName, defaultMode: 0o440 } }]),
    ...(serving.auth === undefined
      ? []
      : [
          {
            name: volumeNames.auth,
            secret: {
              secretName: serving.auth.tokenSecretRef.name,
              items: [{ key: serving.auth.tokenSecretRef.key, path: "token" }],
              defaultMode: 0o440,
            },
          },
        ]),
  ];
}

/**
 * Accelerators are scarce: with one, replace a pod at a time without a surge pod that may find no free
 * GPU (capacity dips by one during a rollout); on CPU, surge first so capacity never dips. A version
 * that may run a single replica surges even with an accelerator: taking its only pod down first would
 * leave the version with no server at all until the new pod has fetched and loaded the model, and an
 * operator upgrade (a new image tag) rolls every version at once. Without a free accelerator its new
 * pod waits Pending while the old one keeps serving.
 */
function rollout(model: EmbeddingModel): { maxSurge: number; maxUnavailable: number } {
  const { accelerator, autoscaling, replicas } = model.spec.serving;
  const fewestReplicas = autoscaling === undefined ? (replicas ?? 1) : autoscaling.minReplicas;
  return accelerator === undefined || fewestReplicas <= 1
    ? { maxSurge: 1, maxUnavailable: 0 }
    : { maxSurge: 0, maxUnavailable: 1 };
}

/**
 * The Deployment of the spec's version; `config.hash` is the hash of its ConfigMap's data, which it
 * mounts by `config.configMapName`; `placement` is the operator's default scheduling, merged with the
 * spec's.
 */
export function desiredDeployment(
  model: EmbeddingModel,
  images: Images,
  config: {
    hash: string;
    /** The content-addressed ConfigMap holding that config. */
    configMapName: string;
    manifestSha256: string | undefined;
    secrets?: SecretsAsRead | undefined;
  },
  placement?: WorkloadPlacement,
): V1Deployment {
  const { spec } = model;
  const name = servingName(model.metadata.name, spec.version);
  const { labels, selector } = childLabels("serving", {
    model: model.metadata.name,
    embeddingVersion: spec.version,
  });
  const image = servingImage(model, images);
  const replicas = desiredReplicas(model);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: model.metadata.namespace, labels, ownerReferences: [controllerRef(model)] },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: selector },
      strategy: { type: "RollingUpdate", rollingUpdate: rollout(model) },
      template: {
        metadata: {
          labels,
          annotations: {
            [annotationKeys.configHash]: config.hash,
            // The server reads its certificate and key only at start, so a renewed certificate rolls
            // the pods; nothing else of that Secret does (its ca.crt, its annotations). The bearer
            // token it re-reads, and the model URL's Secret matters only to a pod's download: those
            // do not roll the pods.
            ...(spec.serving.tls !== undefined && config.secrets !== undefined
              ? {
                  [annotationKeys.secretVersions]: secretStampsOf(
                    [{ name: spec.serving.tls.secretName, files: servingTlsFiles, values: false }],
                    config.secrets,
                  ),
                }
              : {}),
          },
        },
        spec: withPullPolicy(
          placePod(
            {
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              ...imagePullSecrets(images),
              securityContext: restrictedPodSecurityContext(),
              terminationGracePeriodSeconds: preStopSeconds + Math.ceil(drainTimeoutMs / 1000) + 5,
              initContainers: fetchModelContainers(model, image, config.manifestSha256),
              containers: [servingContainer(model, image)],
              volumes: volumes(model, config.configMapName),
              tolerations: tolerations(model),
              ...(spec.serving.nodeSelector === undefined ? {} : { nodeSelector: spec.serving.nodeSelector }),
              ...(spec.serving.affinity === undefined ? {} : { affinity: spec.serving.affinity as never }),
              ...(spec.serving.priorityClassName === undefined
                ? {}
                : { priorityClassName: spec.serving.priorityClassName }),
            },
            placement,
          ),
          images,
        ),
      },
    },
  };
}
