// The Services of an EmbeddingModel: one per version (its gRPC and HTTP ports, selecting that
// version's pods) and the stable query Service named after the model, which selects the active
// version's pods; promotion moves it by changing one label value in its selector.
import type { V1Service } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { childLabels } from "../shared/labels.ts";
import { queryServiceName, servingName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import { servingPorts } from "./serving-config.ts";

const ports = [
  { name: "grpc", port: servingPorts.grpc, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" },
  { name: "http", port: servingPorts.http, targetPort: "http", protocol: "TCP", appProtocol: "http" },
];

function service(
  model: EmbeddingModel,
  name: string,
  embeddingVersion: string,
  ownLabels: Record<string, string>,
): V1Service {
  const { selector } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: model.metadata.namespace,
      labels: ownLabels,
      ownerReferences: [controllerRef(model)],
    },
    spec: { type: "ClusterIP", selector, ports },
  };
}

/** The Service of one version's pods. */
export function desiredVersionService(model: EmbeddingModel, embeddingVersion: string): V1Service {
  const { labels } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  return service(model, servingName(model.metadata.name, embeddingVersion), embeddingVersion, labels);
}

/** The model's stable query Service, selecting the pods of `activeVersion`. */
export function desiredQueryService(model: EmbeddingModel, activeVersion: string): V1Service {
  // Labelled without a version: the Service outlives versions; only its selector names one.
  const { labels } = childLabels("serving", { model: model.metadata.name });
  return service(model, queryServiceName(model.metadata.name), activeVersion, labels);
}

/** host:port of a Service's gRPC port inside the cluster. */
export function grpcEndpoint(serviceName: string, namespace: string): string {
  return `${serviceName}.${namespace}.svc:${servingPorts.grpc}`;
}
