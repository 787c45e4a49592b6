// The one `jude` image every workload runs (subcommands serve | nearline | bootstrap | fetch-model),
// and its CUDA variant for accelerated serving. The operator is told its own image by config; pods it
// renders run the same tag unless a resource names another image. On a private registry the pods need
// pull credentials too: the operator's configured pull Secrets go into every pod it renders, and its
// pull policy into every container that runs one of its images. A release pinned by digest names each
// image by its own digest (the CUDA image is another image: it has a digest of its own).
import type { V1Container, V1PodSpec } from "@kubernetes/client-node";

/** The image repository the Helm chart installs by default; the testbed's local nodes run it. */
export const defaultImageRepository = "ghcr.io/jude-dev/jude";

/**
 * An image name without tag or digest, as the distribution reference grammar has it:
 * `[registry[:port]/]path`, the registry a host name or a bracketed IPv6 address (`[fd00::1]:5000`),
 * path components lowercase. The chart's values.schema.json holds the same
 * pattern for `image.repository`.
 */
export const imageRepositoryPattern =
  /^(?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/;

/** Images the operator renders into pods, and how the pods may pull them. */
export interface Images {
  /** The CPU image, e.g. ghcr.io/jude-dev/jude:0.1.0. */
  jude: string;
  /** The CUDA serving image, e.g. ghcr.io/jude-dev/jude:0.1.0-cuda. */
  judeCuda: string;
  /**
   * Names of the `kubernetes.io/dockerconfigjson` Secrets every workload pod pulls with; each must
   * exist in the namespace of the pods (Kubernetes never reads another namespace's pull Secret).
   */
  pullSecrets: readonly string[];
  /** imagePullPolicy of the containers running `jude` or `judeCuda`; Kubernetes' default when absent. */
  pullPolicy?: ImagePullPolicy | undefined;
}

export const imagePullPolicies = ["Always", "IfNotPresent", "Never"] as const;
export type ImagePullPolicy = (typeof imagePullPolicies)[number];

/** How a release pins and pulls its images, beyond repository and tag. */
export interface ImageOptions {
  /** Digest of the CPU image (sha256:…): rendered as repository:tag@digest. */
  digest?: string | undefined;
  /** Digest of the CUDA image (sha256:…); the CUDA image is repository:tag-cuda without it. */
  cudaDigest?: string | undefined;
  pullPolicy?: ImagePullPolicy | undefined;
}

/** Images of one release of the operator, from its repository and tag, pulled with `pullSecrets`. */
export function imagesFor(
  repository: string,
  tag: string,
  pullSecrets: readonly string[] = [],
  options: ImageOptions = {},
): Images {
  const pinned = (name: string, digest: string | undefined) =>
    digest === undefined ? name : `${name}@${digest}`;
  return {
    jude: pinned(`${repository}:${tag}`, options.digest),
    judeCuda: pinned(`${repository}:${tag}-cuda`, options.cudaDigest),
    pullSecrets,
    ...(options.pullPolicy === undefined ? {} : { pullPolicy: options.pullPolicy }),
  };
}

/**
 * `podSpec` with the operator's pull policy on every container that runs one of its images (a
 * resource's own image keeps Kubernetes' default, Always for :latest). Unchanged without a policy.
 */
export function withPullPolicy(podSpec: V1PodSpec, images: Images): V1PodSpec {
  const { pullPolicy } = images;
  if (pullPolicy === undefined) return podSpec;
  const set = (containers: V1Container[] | undefined) =>
    containers?.map((container) =>
      container.image === images.jude || container.image === images.judeCuda
        ? { ...container, imagePullPolicy: pullPolicy }
        : container,
    );
  return {
    ...podSpec,
    containers: set(podSpec.containers)!,
    ...(podSpec.initContainers === undefined ? {} : { initContainers: set(podSpec.initContainers) }),
  };
}

/**
 * The pod spec field that lists `images.pullSecrets`; empty when there are none, so pods rendered
 * without pull Secrets are unchanged (and a namespace's default ServiceAccount still adds its own).
 */
export function imagePullSecrets(images: Images): Pick<V1PodSpec, "imagePullSecrets"> {
  return images.pullSecrets.length === 0
    ? {}
    : { imagePullSecrets: images.pullSecrets.map((name) => ({ name })) };
}
