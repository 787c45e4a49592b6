// The desired children of one live version of a NearlinePipeline: the worker ConfigMap, the worker
// Deployment (its config hash in the pod template, probes on the ops port, restricted pods) and its
// PodDisruptionBudget.
import type { V1ConfigMap, V1Deployment, V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { workerDrainMs } from "../../pipelines/nearline/config.ts";
import { desiredDisruptionBudget } from "../shared/disruption-budget.ts";
import type { Images } from "../shared/image.ts";
import { annotationKeys, childLabels } from "../shared/labels.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { nearlineWorkerName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import { secretStampsOf, type SecretsAsRead } from "../shared/secret-wiring.ts";
import { startupProbeTiming } from "../shared/startup-probe.ts";
import type { SecretKeyNames } from "./config-sections.ts";
import type { LiveVersion } from "./live-versions.ts";
import { desiredWorkerConfig, workerOpsPort } from "./worker-config.ts";
import { workerParts, workerPodSpec } from "./worker-pod.ts";

/** How long a worker may take to join its group (waiting for Kafka) before liveness applies. */
export const workerStartupSeconds = 300;

/**
 * A worker pod's grace period: the worker's drain of its batch in hand (workerDrainMs), then 10 s for
 * leaving the group and closing its producer and store connections, so SIGKILL never cuts a drain.
 */
export const workerTerminationGraceSeconds = workerDrainMs / 1000 + 10;

/** Annotation on a worker Deployment recording the offsets a promoted version's workers start from. */
export const startOffsetsAnnotation = "jude.dev/start-offsets";

/** What one live version of a pipeline needs in the cluster. */
export interface DesiredWorkers {
  configMap: V1ConfigMap;
  deployment: V1Deployment;
  /** A drain takes one worker at a time: the others keep the partitions while it moves. */
  disruptionBudget: V1PodDisruptionBudget;
  /** Secrets the pods reference (they must exist; they are never copied). */
  secretNames: string[];
}

/**
 * Builds the ConfigMap and Deployment of `version`'s nearline workers. `secrets` (as read) stamps the
 * pod template with what the pods read at start of the Secrets they reference (secretStampsOf); `secretKeys`
 * (their key names, as read) tells whether the serving TLS Secret has a ca.crt to mount. Pure.
 */
export function desiredWorkers(
  pipeline: NearlinePipeline,
  model: EmbeddingModel,
  version: LiveVersion,
  images: Images,
  placement?: WorkloadPlacement,
  secrets?: SecretsAsRead,
  secretKeys?: SecretKeyNames,
): DesiredWorkers {
  const name = nearlineWorkerName(pipeline.metadata.name, version.version);
  const namespace = pipeline.metadata.namespace ?? "default";
  const { labels, selector } = childLabels("nearline", {
    model: model.metadata.name,
    embeddingVersion: version.version,
    pipeline: pipeline.metadata.name,
  });
  const owner = controllerRef(pipeline);
  const { configMap, configHash, container, wiring } = workerParts({
    name,
    namespace,
    labels,
    owner,
    image: images.jude,
    subcommand: "nearline",
    resources: pipeline.spec.workers.resources,
    render: (secrets) => desiredWorkerConfig(pipeline, model, version, secrets, secretKeys),
  });
  container.ports = [{ name: "ops", containerPort: workerOpsPort, protocol: "TCP" }];
  // /healthz answers once the worker has joined its group; opening the store may wait out a store
  // outage and joining may wait for Kafka, so the startup probe allows five minutes before liveness
  // applies, asking every second (../shared/startup-probe.ts).
  // Readiness is the worker's own /readyz.
  container.startupProbe = {
    httpGet: { path: "/healthz", port: "ops" },
    ...startupProbeTiming(workerStartupSeconds),
  };
  container.livenessProbe = {
    httpGet: { path: "/healthz", port: "ops" },
    periodSeconds: 10,
    failureThreshold: 3,
  };
  container.readinessProbe = {
    httpGet: { path: "/readyz", port: "ops" },
    periodSeconds: 5,
    failureThreshold: 2,
  };

  const startOffsets =
    version.startOffsets !== undefined
      ? { [startOffsetsAnnotation]: JSON.stringify(version.startOffsets) }
      : undefined;
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace,
      labels,
      ...(startOffsets !== undefined ? { annotations: startOffsets } : {}),
      ownerReferences: [owner],
    },
    spec: {
      replicas: pipeline.spec.workers.replicas,
      selector: { matchLabels: selector },
      // A new pod joins the group before an old one leaves, so partitions are never unowned for long.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      revisionHistoryLimit: 3,
      template: {
        metadata: {
          labels,
          annotations: {
            [annotationKeys.configHash]: configHash,
            // Only the Secrets read at start: the serving token's file is read again in place.
            ...(secrets !== undefined && wiring.readAtStart.length > 0
              ? { [annotationKeys.secretVersions]: secretStampsOf(wiring.readAtStart, secrets) }
              : {}),
          },
        },
        spec: workerPodSpec({
          container,
          configMapName: configMap.metadata!.name!,
          wiring,
          restartPolicy: "Always",
          terminationGracePeriodSeconds: workerTerminationGraceSeconds,
          images,
          placement,
        }),
      },
    },
  };
  const disruptionBudget = desiredDisruptionBudget({ name, namespace, labels, selector, owner });

  return { configMap, deployment, disruptionBudget, secretNames: wiring.secretNames };
}
