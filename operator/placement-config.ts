// Parsing of the operator's workload placement flags: `--workload-node-selector` as `key=value` pairs
// separated by commas (like `kubectl label`; neither part of a label may contain `,` or `=`), and
// `--workload-tolerations` as a JSON array of core Pod tolerations. Both are validated with the same
// zod schemas as the EmbeddingModel's own scheduling fields, so a typo fails at start-up, not as a pod
// the API server rejects later.
import type { V1Toleration } from "@kubernetes/client-node";
import { z } from "zod";
import { nodeSelector, tolerations } from "../crds/common.ts";
import { labelKeyPattern, labelValuePattern } from "../crds/patterns.ts";
import type { WorkloadPlacement } from "../controllers/shared/placement.ts";

/** `--workload-node-selector`: `key=value[,key=value…]` -> a node selector. */
export const nodeSelectorFlag = z
  .string()
  .transform((text, context) => {
    const selector: Record<string, string> = {};
    for (const pair of text.split(",").map((item) => item.trim())) {
      if (pair === "") continue;
      const [key = "", value, extra] = pair.split("=");
      if (
        value === undefined ||
        extra !== undefined ||
        !labelKeyPattern.test(key) ||
        !labelValuePattern.test(value)
      ) {
        context.addIssue({ code: "custom", message: `"${pair}" is not a label key=value pair` });
        return z.NEVER;
      }
      selector[key] = value;
    }
    return selector;
  })
  .pipe(nodeSelector);

/** `--workload-tolerations`: a JSON array of tolerations -> the validated tolerations. */
export const tolerationsFlag = z
  .string()
  .transform((text, context) => {
    if (text.trim() === "") return [];
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      context.addIssue({ code: "custom", message: `not JSON: ${(error as Error).message}` });
      return z.NEVER;
    }
  })
  .pipe(tolerations);

/** The placement the controllers apply, from the parsed flags (absent flags mean no defaults). */
export function workloadPlacement(config: {
  workloadNodeSelector?: Record<string, string> | undefined;
  workloadTolerations?: z.output<typeof tolerations> | undefined;
  workloadServiceAccount?: string | undefined;
}): WorkloadPlacement {
  return {
    nodeSelector: config.workloadNodeSelector ?? {},
    tolerations: (config.workloadTolerations ?? []) as V1Toleration[],
    ...(config.workloadServiceAccount === undefined
      ? {}
      : { serviceAccountName: config.workloadServiceAccount }),
  };
}
