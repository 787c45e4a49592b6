// The one `jude` image every workload runs (subcommands serve | nearline | bootstrap | fetch-model),
// and its CUDA variant for accelerated serving. The operator is told its own image by config; pods it
// renders run the same tag unless a resource names another image. On a private registry the pods need
// pull credentials too: the operator's configured pull Secrets go into every pod it renders.
import type { V1PodSpec } from "@kubernetes/client-node";

/** The image repository the Helm chart installs by default; the testbed's local nodes run it. */
export const defaultImageRepository = "ghcr.io/jude-dev/jude";

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
}

/** Images of one release of the operator, from its repository and tag, pulled with `pullSecrets`. */
export function imagesFor(repository: string, tag: string, pullSecrets: readonly string[] = []): Images {
  return { jude: `${repository}:${tag}`, judeCuda: `${repository}:${tag}-cuda`, pullSecrets };
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
