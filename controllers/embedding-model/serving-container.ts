// The containers of a version's serving pod: the init containers that fill the model volume with
// `jude fetch-model` (sha256-verified) and the `jude serve` container with its accelerator, probes,
// preStop pause and restricted security context. Pure.
import type { V1Container, V1Probe, V1VolumeMount } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { restrictedContainerSecurityContext } from "../shared/pod-security.ts";
import { SecretWiring } from "../shared/secret-wiring.ts";
import { startupProbeTiming } from "../shared/startup-probe.ts";
import { claimMountRoot, copiedModelFile, modelDir, modelSources } from "./model-source.ts";
import { configFiles, servingPaths, servingPorts } from "./serving-config.ts";

/** Volume names of the serving pod. */
export const volumeNames = {
  config: "config",
  models: "models",
  shm: "dshm",
  tmp: "tmp",
  tls: "tls",
  auth: "auth",
  claim: (claim: string) => `pvc-${claim}`.slice(0, 63),
} as const;

/**
 * The variable the fetch-model init container reads the download URL from when spec.model.uriSecretRef
 * names one: a secretKeyRef, so the signed URL is in neither the pod spec nor the process's argv.
 */
export const modelUriEnv = "JUDE_MODEL_URI";

/** Seconds the preStop hook waits before SIGTERM, so endpoints drop the pod before it stops accepting. */
export const preStopSeconds = 5;

function claimMounts(claims: readonly string[]): V1VolumeMount[] {
  return claims.map((claim) => ({
    name: volumeNames.claim(claim),
    mountPath: `${claimMountRoot}/${claim}`,
    readOnly: true,
  }));
}

/**
 * Init containers: the model artifact (copied and verified when a sha256 is given; unpacked when it
 * is an archive), then the rendered manifest (verified against the hash of what the operator rendered).
 */
export function fetchModelContainers(
  model: EmbeddingModel,
  image: string,
  manifestSha256: string | undefined,
): V1Container[] {
  const sources = modelSources(model.spec.model);
  const common = {
    image,
    // jude writes no /dev/termination-log: a failed fetch's message is then its last log lines.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: restrictedContainerSecurityContext(),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
  };
  const modelsMount: V1VolumeMount = { name: volumeNames.models, mountPath: modelDir };
  const containers: V1Container[] = [];
  const { sha256, uriSecretRef } = model.spec.model;
  if (sha256 !== undefined) {
    // With uriSecretRef, --uri is the credential-free form fetch-model names in its messages.
    const wiring = new SecretWiring();
    if (uriSecretRef !== undefined) wiring.envFrom(modelUriEnv, uriSecretRef);
    containers.push({
      ...common,
      name: "fetch-model",
      ...(wiring.env.length > 0 ? { env: wiring.env } : {}),
      args: [
        "fetch-model",
        "--uri",
        sources.model.fetchUri,
        ...(uriSecretRef === undefined ? [] : ["--uri-env", modelUriEnv]),
        "--sha256",
        sha256,
        "--dest",
        sources.archive ? modelDir : `${modelDir}/${copiedModelFile}`,
        "--extract",
        sources.archive ? "auto" : "never",
      ],
      volumeMounts: [modelsMount, ...claimMounts(sources.claims)],
    });
  }
  if (manifestSha256 !== undefined) {
    containers.push({
      ...common,
      name: "model-manifest",
      args: [
        "fetch-model",
        "--uri",
        `file://${servingPaths.config}/${configFiles.manifest}`,
        "--sha256",
        manifestSha256,
        "--dest",
        `${modelDir}/${configFiles.manifest}`,
        "--extract",
        "never",
      ],
      volumeMounts: [
        modelsMount,
        { name: volumeNames.config, mountPath: servingPaths.config, readOnly: true },
      ],
    });
  }
  return containers;
}

/** How long a serving container may take to load and warm its model before liveness applies. */
export const servingStartupSeconds = 600;

/**
 * Probes on the server's health: gRPC health (kubelet's native gRPC probe) for startup and
 * readiness; over TLS the kubelet cannot speak gRPC, so the HTTPS /readyz (the same health) is used.
 * Liveness asks /healthz, which fails only when the inference worker died: NOT_SERVING while loading
 * or draining is a readiness matter, not a reason to restart.
 */
export function servingProbes(tls: boolean): {
  startupProbe: V1Probe;
  readinessProbe: V1Probe;
  livenessProbe: V1Probe;
} {
  const health = (service: string, path: string): V1Probe =>
    tls
      ? { httpGet: { path, port: servingPorts.http, scheme: "HTTPS" } }
      : { grpc: { port: servingPorts.grpc, service } };
  return {
    // Loading and warming a large model can take minutes: up to 10 minutes before liveness applies.
    // Asked every second (../shared/startup-probe.ts): a loading server answers NOT_SERVING cheaply.
    startupProbe: {
      ...health("", "/readyz"),
      ...startupProbeTiming(servingStartupSeconds),
      timeoutSeconds: 3,
    },
    readinessProbe: {
      ...health("jude.embedding.v1.EmbeddingService", "/readyz"),
      periodSeconds: 5,
      failureThreshold: 2,
      timeoutSeconds: 3,
    },
    livenessProbe: {
      httpGet: { path: "/healthz", port: servingPorts.http, scheme: tls ? "HTTPS" : "HTTP" },
      periodSeconds: 10,
      failureThreshold: 3,
      timeoutSeconds: 3,
    },
  };
}

/** Requests and limits: the spec's, plus the accelerator requested and limited equally. */
function servingResources(model: EmbeddingModel): V1Container["resources"] {
  const { resources, accelerator } = model.spec.serving;
  const requests: Record<string, string> = Object.fromEntries(
    Object.entries(resources?.requests ?? {}).map(([name, value]) => [name, String(value)]),
  );
  const limits: Record<string, string> = Object.fromEntries(
    Object.entries(resources?.limits ?? {}).map(([name, value]) => [name, String(value)]),
  );
  if (accelerator !== undefined) {
    requests[accelerator.resourceName] = String(accelerator.count);
    limits[accelerator.resourceName] = String(accelerator.count);
  }
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

/** The `jude serve` container. */
export function servingContainer(model: EmbeddingModel, image: string): V1Container {
  const { serving } = model.spec;
  const sources = modelSources(model.spec.model);
  const copied = model.spec.model.sha256 !== undefined;
  const mounts: V1VolumeMount[] = [
    { name: volumeNames.config, mountPath: servingPaths.config, readOnly: true },
    { name: volumeNames.models, mountPath: modelDir, readOnly: true },
    { name: volumeNames.shm, mountPath: "/dev/shm" },
    { name: volumeNames.tmp, mountPath: "/tmp" },
    // Artifacts read in place (the tokenizer; the model when it has no sha256) need their claims here.
    ...claimMounts(
      [...new Set([copied ? undefined : sources.model.claim, sources.tokenizer?.claim])].filter(
        (claim): claim is string => claim !== undefined,
      ),
    ),
    ...(serving.tls === undefined
      ? []
      : [{ name: volumeNames.tls, mountPath: servingPaths.tls, readOnly: true }]),
    ...(serving.auth === undefined
      ? []
      : [{ name: volumeNames.auth, mountPath: servingPaths.auth, readOnly: true }]),
  ];
  return {
    name: "serve",
    image,
    args: ["serve", "--config", `${servingPaths.config}/${configFiles.serving}`],
    ports: [
      { name: "grpc", containerPort: servingPorts.grpc, protocol: "TCP" },
      { name: "http", containerPort: servingPorts.http, protocol: "TCP" },
    ],
    resources: servingResources(model),
    ...servingProbes(serving.tls !== undefined),
    lifecycle: { preStop: { sleep: { seconds: preStopSeconds } } },
    // jude writes no /dev/termination-log: a crash's message (which the model's status quotes) is then
    // the server's last log lines, e.g. why it could not load the model.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: restrictedContainerSecurityContext(),
    volumeMounts: mounts,
  };
}
