// The pod pieces every JUDE worker container shares (nearline workers and bootstrap shards): the
// config volume, a writable /tmp on a read-only root, Secret wiring and the restricted security context.
import type { V1Container, V1PodSpec, V1ResourceRequirements, V1Volume } from "@kubernetes/client-node";
import { imagePullSecrets, withPullPolicy, type Images } from "../shared/image.ts";
import { placePod, type WorkloadPlacement } from "../shared/placement.ts";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../shared/pod-security.ts";
import type { V1ConfigMap, V1OwnerReference } from "@kubernetes/client-node";
import { configFileName, configMapFor, configMountPath } from "./config-map.ts";
import { SecretWiring } from "../shared/secret-wiring.ts";

/** Resource requirements as the CRDs hold them (a quantity may be a number). */
export interface ResourceSpec {
  requests?: Record<string, string | number> | undefined;
  limits?: Record<string, string | number> | undefined;
}

/** The core type's form of `spec`: every quantity a string, as the API server returns it. */
export function containerResources(spec: ResourceSpec): V1ResourceRequirements {
  const strings = (quantities: Record<string, string | number>) =>
    Object.fromEntries(Object.entries(quantities).map(([name, value]) => [name, String(value)]));
  return {
    ...(spec.requests !== undefined ? { requests: strings(spec.requests) } : {}),
    ...(spec.limits !== undefined ? { limits: strings(spec.limits) } : {}),
  };
}

/** A worker container running `jude <subcommand> --config <mounted file>`. */
export function workerContainer(options: {
  name: string;
  image: string;
  subcommand: "nearline" | "bootstrap";
  wiring: SecretWiring;
  resources?: ResourceSpec | undefined;
}): V1Container {
  // A nearline worker uses its pod name as static consumer-group member id: a container restarted in
  // the same pod resumes its partitions at once instead of after the session timeout.
  const env = [
    ...(options.subcommand === "nearline"
      ? [{ name: "JUDE_POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } }]
      : []),
    ...options.wiring.env,
  ];
  return {
    name: options.name,
    image: options.image,
    args: [options.subcommand, "--config", `${configMountPath}/${configFileName}`],
    ...(env.length > 0 ? { env } : {}),
    ...(options.resources !== undefined ? { resources: containerResources(options.resources) } : {}),
    volumeMounts: [
      { name: "config", mountPath: configMountPath, readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
      ...options.wiring.volumeMounts,
    ],
    // jude writes no /dev/termination-log: a crash's message (which the status quotes) is then the
    // worker's last log lines instead of nothing.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: restrictedContainerSecurityContext(),
  };
}

/**
 * The pod spec around one worker container: config and Secret volumes, no API token, restricted,
 * pulled with the operator's pull Secrets, scheduled by the operator's default placement.
 */
export function workerPodSpec(options: {
  container: V1Container;
  configMapName: string;
  wiring: SecretWiring;
  restartPolicy: "Always" | "Never";
  terminationGracePeriodSeconds: number;
  images: Images;
  placement?: WorkloadPlacement | undefined;
}): V1PodSpec {
  const volumes: V1Volume[] = [
    { name: "config", configMap: { name: options.configMapName } },
    // Node and the Kafka client may write temporary files; the root filesystem is read-only.
    { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
    ...options.wiring.volumes,
  ];
  return withPullPolicy(
    placePod(
      {
        containers: [options.container],
        volumes,
        restartPolicy: options.restartPolicy,
        terminationGracePeriodSeconds: options.terminationGracePeriodSeconds,
        // Workers never talk to the Kubernetes API.
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: restrictedPodSecurityContext(),
        ...imagePullSecrets(options.images),
      },
      options.placement,
    ),
    options.images,
  );
}

/**
 * The parts every worker workload starts from: its config (rendered by `render`, which registers the
 * Secrets it needs on the wiring) as a ConfigMap with its hash, and the container that mounts it (the
 * pod spec mounts the ConfigMap by its name, content-addressed for nearline workers).
 */
export function workerParts(options: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  owner: V1OwnerReference;
  image: string;
  subcommand: "nearline" | "bootstrap";
  resources?: ResourceSpec | undefined;
  render: (wiring: SecretWiring) => unknown;
}): { configMap: V1ConfigMap; configHash: string; container: V1Container; wiring: SecretWiring } {
  const wiring = new SecretWiring();
  const { name, namespace, labels, owner } = options;
  const { configMap, configHash } = configMapFor({
    name,
    namespace,
    labels,
    owner,
    config: options.render(wiring),
    // See config-map.ts: a nearline worker's config is content-addressed, a bootstrap Job's is not.
    contentAddressed: options.subcommand === "nearline",
  });
  const container = workerContainer({
    name: options.subcommand,
    image: options.image,
    subcommand: options.subcommand,
    wiring,
    resources: options.resources,
  });
  return { configMap, configHash, container, wiring };
}
