// EmbeddingModel.spec.serving: how each embedding version's gRPC embedding server runs. The operator
// builds one Deployment (plus Service, PodDisruptionBudget and optional HorizontalPodAutoscaler) per
// version from this block; the defaults match the serving engine's own defaults.
import { z } from "zod";
import { affinity } from "./affinity.ts";
import { dnsSubdomain, nodeSelector, resourceRequirements, secretKeyRef, tolerations } from "./common.ts";
import { withRules } from "./kube.ts";
import { extendedResourcePattern, imagePattern } from "./patterns.ts";

/** Horizontal autoscaling of one version's serving Deployment. */
export const autoscaling = withRules(
  z.strictObject({
    minReplicas: z
      .int()
      .min(1)
      .max(1000)
      .default(1)
      .describe("Fewest replicas the autoscaler keeps, also while a version is warming up."),
    maxReplicas: z.int().min(1).max(1000).describe("Most replicas the autoscaler may create."),
    targetInflightRequests: z
      .int()
      .min(1)
      .max(100000)
      .optional()
      .describe(
        "Average in-flight embedding requests per replica to aim for (pods metric jude_serving_inflight_requests, served through a custom metrics adapter).",
      ),
    targetQueueTokens: z
      .int()
      .min(1)
      .max(10000000)
      .optional()
      .describe(
        "Average tokens waiting in a replica's batching queue to aim for (pods metric jude_serving_queue_tokens); tracks GPU work better than request counts.",
      ),
    targetCPUUtilizationPercentage: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe("Average CPU utilization, in percent of requests, to aim for; useful for CPU-only serving."),
    scaleDownStabilizationSeconds: z
      .int()
      .min(0)
      .max(3600)
      .default(300)
      .describe(
        "How long load must stay low before replicas are removed; avoids flapping on bursty traffic.",
      ),
  }),
  [
    {
      rule: "self.minReplicas <= self.maxReplicas",
      message: "minReplicas must not exceed maxReplicas",
      field: "minReplicas",
      holds: (self) => self.minReplicas <= self.maxReplicas,
    },
    {
      rule: "has(self.targetInflightRequests) || has(self.targetQueueTokens) || has(self.targetCPUUtilizationPercentage)",
      message:
        "set at least one of targetInflightRequests, targetQueueTokens or targetCPUUtilizationPercentage",
      reason: "FieldValueRequired",
      holds: (self) =>
        self.targetInflightRequests !== undefined ||
        self.targetQueueTokens !== undefined ||
        self.targetCPUUtilizationPercentage !== undefined,
    },
  ],
);

/** The accelerator resource when accelerator.resourceName is not set. */
const acceleratorDefaultResource = "nvidia.com/gpu";

/** The GPU (or other accelerator) each serving replica requests. */
export const accelerator = z.strictObject({
  resourceName: z
    .string()
    .max(253)
    .regex(extendedResourcePattern, "must be a domain-prefixed resource name such as nvidia.com/gpu")
    .default(acceleratorDefaultResource)
    .describe("Extended resource name of the accelerator, e.g. nvidia.com/gpu or amd.com/gpu."),
  count: z
    .int()
    .min(1)
    .max(16)
    .default(1)
    .describe("Accelerators per replica; requested and limited equally."),
});

/** Dynamic batching: requests are grouped into batches bounded by tokens, size and waiting time. */
export const batching = z.strictObject({
  maxBatchTokens: z
    .int()
    .min(1)
    .max(1048576)
    .default(16384)
    .describe(
      "Most tokens (padded sequence length x batch size) in one inference batch; bounds accelerator memory. Must be at least model.maxSequenceLength.",
    ),
  maxBatchSize: z.int().min(1).max(4096).default(32).describe("Most texts in one inference batch."),
  maxQueueDelayMs: z
    .int()
    .min(0)
    .max(10000)
    .default(2)
    .describe(
      "Longest a request waits for a batch to fill before the batch runs anyway; trades latency for throughput.",
    ),
  maxConcurrentRequests: z
    .int()
    .min(1)
    .max(100000)
    .default(512)
    .describe(
      "Inputs (texts, over all calls) a replica holds at once, one permit each; a call that does not get a permit for every input is answered RESOURCE_EXHAUSTED at once instead of queueing.",
    ),
});

/** TLS for the gRPC endpoint. */
export const servingTls = z.strictObject({
  secretName: dnsSubdomain().describe(
    "Secret of type kubernetes.io/tls (tls.crt, tls.key; ca.crt lets operator-managed clients verify the server), e.g. issued by cert-manager.",
  ),
  requireClientCertificate: z
    .boolean()
    .default(false)
    .describe(
      "Mutual TLS (clients present a certificate signed by the Secret's ca.crt): not supported by jude serve yet; true makes the model Stalled until it is set back to false.",
    ),
});

/** Bearer-token authentication for the gRPC endpoint. */
export const servingAuth = z.strictObject({
  tokenSecretRef: secretKeyRef.describe(
    "Secret key holding the bearer token clients must send in the authorization metadata; pipeline workers read the same key.",
  ),
});

/** How each embedding version is served. */
export const serving = withRules(
  z.strictObject({
    replicas: z
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe(
        "Fixed number of serving replicas of each served version (the active one, and during a promotion the candidate and a draining one too); 1 when neither replicas nor autoscaling is set. Mutually exclusive with autoscaling.",
      ),
    autoscaling: autoscaling
      .optional()
      .describe(
        "Scale replicas on load with a HorizontalPodAutoscaler per served version (the active one, and during a promotion the candidate and a draining one too). Mutually exclusive with replicas.",
      ),
    accelerator: accelerator
      .optional()
      .describe("Accelerator each replica requests, e.g. one nvidia.com/gpu; omit to serve on CPU."),
    resources: resourceRequirements
      .optional()
      .describe(
        "CPU and memory requests and limits of the serving container; a GPU count belongs in accelerator.",
      ),
    nodeSelector: nodeSelector
      .optional()
      .describe("Node labels a serving pod requires, e.g. a GPU product label."),
    tolerations: tolerations.optional().describe("Tolerations of serving pods, e.g. for tainted GPU nodes."),
    affinity: affinity
      .optional()
      .describe("Affinity rules of serving pods, e.g. to spread replicas over zones."),
    priorityClassName: dnsSubdomain()
      .optional()
      .describe("PriorityClass of serving pods; online serving usually outranks batch work."),
    image: z
      .string()
      .max(512)
      .regex(imagePattern)
      .optional()
      .describe(
        "Serving image; defaults to the operator's own image (its CUDA variant when an accelerator is set).",
      ),
    batching: batching.prefault({}).describe("Dynamic batching limits of each replica."),
    tls: servingTls
      .optional()
      .describe("Serve gRPC over TLS; omit for plaintext inside the cluster network."),
    auth: servingAuth
      .optional()
      .describe("Require a bearer token from clients; omit to accept any client that can connect."),
  }),
  [
    {
      rule: "!(has(self.replicas) && has(self.autoscaling))",
      message:
        "replicas and autoscaling are mutually exclusive: set replicas for a fixed size or autoscaling to scale on load",
      field: "replicas",
      reason: "FieldValueForbidden",
      holds: (self) => !(self.replicas !== undefined && self.autoscaling !== undefined),
    },
    {
      // The builder sets the accelerator's resource from accelerator.count and would silently drop a
      // count given here; without an accelerator the pod would hold a GPU on the CPU image, without
      // the GPU taint's toleration.
      rule: "!has(self.resources) || [has(self.accelerator) ? self.accelerator.resourceName : 'nvidia.com/gpu'].all(gpu, !(has(self.resources.requests) && gpu in self.resources.requests) && !(has(self.resources.limits) && gpu in self.resources.limits))",
      message:
        "a GPU belongs in accelerator (resourceName, count), which also picks the CUDA image and tolerates the GPU taint: resources must not name it",
      field: "resources",
      reason: "FieldValueForbidden",
      holds: (self) => {
        const gpu = self.accelerator?.resourceName ?? acceleratorDefaultResource;
        return self.resources?.requests?.[gpu] === undefined && self.resources?.limits?.[gpu] === undefined;
      },
    },
  ],
);
