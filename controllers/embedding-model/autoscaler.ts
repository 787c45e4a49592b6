// The HorizontalPodAutoscaler of a version, when spec.serving.autoscaling is set: scale on queued
// tokens or in-flight requests per pod (custom pods metrics the server exports, served to the HPA by
// a metrics adapter) and/or CPU utilization, with a scale-down stabilization window.
import type { V2HorizontalPodAutoscaler, V2MetricSpec } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { childLabels } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";

/** Pods metrics of `jude serve` the HPA targets. */
export const autoscalingMetrics = {
  queueTokens: "jude_serving_queue_tokens",
  inflightRequests: "jude_serving_inflight_requests",
} as const;

function podsMetric(name: string, average: number): V2MetricSpec {
  return {
    type: "Pods",
    pods: { metric: { name }, target: { type: "AverageValue", averageValue: String(average) } },
  };
}

/** The autoscaler's minReplicas raised to `floor`, never above maxReplicas. */
export function flooredMinReplicas(
  autoscaling: { minReplicas: number; maxReplicas: number },
  floor = 0,
): number {
  return Math.min(autoscaling.maxReplicas, Math.max(autoscaling.minReplicas, floor));
}

/**
 * The HPA of one version, or undefined without autoscaling; `floor` raises its minReplicas while
 * readers move to it (see replicasFloor).
 */
export function desiredAutoscaler(
  model: EmbeddingModel,
  embeddingVersion: string,
  floor?: number,
): V2HorizontalPodAutoscaler | undefined {
  const autoscaling = model.spec.serving.autoscaling;
  if (autoscaling === undefined) return undefined;
  const name = servingName(model.metadata.name, embeddingVersion);
  const { labels } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  const metrics: V2MetricSpec[] = [];
  if (autoscaling.targetQueueTokens !== undefined)
    metrics.push(podsMetric(autoscalingMetrics.queueTokens, autoscaling.targetQueueTokens));
  if (autoscaling.targetInflightRequests !== undefined)
    metrics.push(podsMetric(autoscalingMetrics.inflightRequests, autoscaling.targetInflightRequests));
  if (autoscaling.targetCPUUtilizationPercentage !== undefined)
    metrics.push({
      type: "Resource",
      resource: {
        name: "cpu",
        target: { type: "Utilization", averageUtilization: autoscaling.targetCPUUtilizationPercentage },
      },
    });
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, namespace: model.metadata.namespace, labels, ownerReferences: [controllerRef(model)] },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      minReplicas: flooredMinReplicas(autoscaling, floor),
      maxReplicas: autoscaling.maxReplicas,
      metrics,
      behavior: { scaleDown: { stabilizationWindowSeconds: autoscaling.scaleDownStabilizationSeconds } },
    },
  };
}

/** What is read of a version's HPA (the cache keeps its metadata and status). */
export interface AutoscalerView {
  metadata?: { name?: string };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/**
 * Why the HPA cannot scale the version, or undefined: its ScalingActive condition is False when it cannot
 * compute a replica count (no metrics adapter serves the pods metrics, no CPU requests, no metrics
 * server), and the version then stays where it is for ever while its model says Ready. False with reason
 * ScalingDisabled is the HPA standing aside on purpose (the Deployment scaled to zero), not a fault.
 */
export function autoscalerInactive(autoscaler: AutoscalerView | undefined): string | undefined {
  const active = autoscaler?.status?.conditions?.find((condition) => condition.type === "ScalingActive");
  if (active?.status !== "False" || active.reason === "ScalingDisabled") return undefined;
  const detail = active.message?.trim() ? `: ${active.message.trim()}` : "";
  return `autoscaling inactive: HorizontalPodAutoscaler ${autoscaler?.metadata?.name ?? "?"} cannot compute a replica count (${active.reason ?? "no reason given"})${detail}`;
}
