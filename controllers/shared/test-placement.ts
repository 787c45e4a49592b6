// The operator-wide placement the golden files are rendered with: what the testbed passes so workload
// pods land on its tainted local nodes. Used only by tests.
import type { WorkloadPlacement } from "./placement.ts";

/** Node selector and toleration of the testbed's local nodes. */
export const testPlacement: WorkloadPlacement = {
  nodeSelector: { "testbed.jude.dev/node": "local" },
  tolerations: [
    { key: "testbed.jude.dev/local-node", operator: "Equal", value: "true", effect: "NoSchedule" },
  ],
};
