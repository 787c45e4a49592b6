// The one `jude` image every workload runs (subcommands serve | nearline | bootstrap | fetch-model),
// and its CUDA variant for accelerated serving. The operator is told its own image by config; pods it
// renders run the same tag unless a resource names another image.

/** The image repository the Helm chart installs by default; the testbed's local nodes run it. */
export const defaultImageRepository = "ghcr.io/jude-dev/jude";

/** Images the operator renders into pods. */
export interface Images {
  /** The CPU image, e.g. ghcr.io/jude-dev/jude:0.1.0. */
  jude: string;
  /** The CUDA serving image, e.g. ghcr.io/jude-dev/jude:0.1.0-cuda. */
  judeCuda: string;
}

/** Images of one release of the operator, from its repository and tag. */
export function imagesFor(repository: string, tag: string): Images {
  return { jude: `${repository}:${tag}`, judeCuda: `${repository}:${tag}-cuda` };
}
