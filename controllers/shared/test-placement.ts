// The operator-wide pod defaults the golden files are rendered with: what the testbed passes so workload
// pods land on its tainted local nodes, and images pulled with a registry Secret. Used only by tests.
import { imagesFor } from "./image.ts";
import type { WorkloadPlacement } from "./placement.ts";

/** Node selector and toleration of the testbed's local nodes, and a workload ServiceAccount. */
export const testPlacement: WorkloadPlacement = {
  nodeSelector: { "testbed.jude.dev/node": "local" },
  tolerations: [
    { key: "testbed.jude.dev/local-node", operator: "Equal", value: "true", effect: "NoSchedule" },
  ],
  serviceAccountName: "jude-workloads",
};

/**
 * The default images pulled with a private registry's Secret (`--workload-image-pull-secrets`), pinned
 * by digest (`--image-digest`, `--cuda-image-digest`) and pulled Always (`--workload-image-pull-policy`).
 */
export const testPulledImages = imagesFor("ghcr.io/jude-dev/jude", "0.1.0", ["jude-registry"], {
  digest: `sha256:${"a".repeat(64)}`,
  cudaDigest: `sha256:${"c".repeat(64)}`,
  pullPolicy: "Always",
});
