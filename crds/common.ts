// Building blocks shared by the three resources: references, pod scheduling fields and status conditions.
// They mirror the Kubernetes core types a controller copies them into, so a value accepted here is
// accepted again when it lands in a Deployment or Job.
import { z } from "zod";
import { keysMatching, listMap, mapOf, quantity, quantityValue, withRules } from "./kube.ts";
import {
  conditionReasonPattern,
  conditionTypePattern,
  dnsLabelPattern,
  dnsSubdomainPattern,
  labelKeyPattern,
  labelValuePattern,
  resourceNamePattern,
  secretKeyPattern,
  tolerationKeyPattern,
} from "./patterns.ts";

/** An RFC 1123 label (lower case, digits, dashes; at most 63 characters). */
export function dnsLabel(): z.ZodString {
  return z
    .string()
    .min(1)
    .max(63)
    .regex(
      dnsLabelPattern,
      "must be a DNS label: lower-case letters, digits and '-', starting and ending alphanumeric",
    );
}

/** An RFC 1123 subdomain, the syntax of most Kubernetes object names. */
export function dnsSubdomain(): z.ZodString {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(dnsSubdomainPattern, "must be a DNS subdomain: lower-case DNS labels separated by '.'");
}

/** A reference to one key of a Secret in the same namespace; both name and key are required. */
export const secretKeyRef = z.strictObject({
  name: dnsSubdomain().describe("Name of the Secret, in the same namespace as this object."),
  key: z
    .string()
    .min(1)
    .max(253)
    .regex(secretKeyPattern, "must consist of letters, digits, '-', '_' and '.'")
    .describe("Key inside the Secret's data whose value is used."),
});

/** A reference by name to an object of a known kind in the same namespace. */
export const localObjectRef = z.strictObject({
  name: dnsSubdomain().describe("Name of the referenced object, in the same namespace."),
});

/**
 * Resources Kubernetes never overcommits: extended resources (a domain outside kubernetes.io, e.g.
 * nvidia.com/gpu) and hugepages. A container requesting one must limit it to the same quantity.
 */
function overcommitForbidden(resource: string): boolean {
  return (
    resource.startsWith("hugepages-") || (resource.includes("/") && !resource.includes("kubernetes.io/"))
  );
}
const overcommitForbiddenCel =
  "(k.startsWith('hugepages-') || (k.contains('/') && !k.contains('kubernetes.io/')))";

/**
 * Quantities per resource name. The names are checked here because the API server checks them only in
 * the Deployment or Job the operator writes, refusing every apply of it (a misspelt `cpus`).
 */
const resourceMap = () =>
  keysMatching(
    mapOf(quantity(), { max: 16 }),
    resourceNamePattern,
    316,
    "a resource name (cpu, memory, ephemeral-storage, hugepages-<size> or a prefixed name such as nvidia.com/gpu)",
  );

/** Compute resources for a container, copied verbatim into the pod template. */
export const resourceRequirements = withRules(
  z.strictObject({
    requests: resourceMap()
      .optional()
      .describe("Minimum resources the scheduler reserves, e.g. {cpu: 500m, memory: 1Gi}."),
    limits: resourceMap().optional().describe("Maximum resources the container may use, e.g. {memory: 2Gi}."),
  }),
  [
    {
      // The API server refuses such a Deployment or Job; say so here, naming the resource's own field.
      rule: "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",
      message: "every request must be at most its limit (limits.<resource>)",
      field: "requests",
      holds: (self) =>
        Object.entries(self.requests ?? {}).every(([resource, request]) => {
          const limit = self.limits?.[resource];
          return limit === undefined || quantityValue(request) <= quantityValue(limit);
        }),
    },
    {
      // The API server refuses the pods' Deployment or Job ("Limit must be set for non overcommitable
      // resources", "must be equal to nvidia.com/gpu limit"): the object would be admitted and its
      // controller fail on every reconcile instead.
      rule: `!has(self.requests) || self.requests.all(k, !${overcommitForbiddenCel} || (has(self.limits) && k in self.limits && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) == 0))`,
      message:
        "an extended resource such as nvidia.com/gpu, or hugepages, is requested and limited equally: set limits.<resource> to the request (or set only the limit; the request defaults to it)",
      field: "requests",
      holds: (self) =>
        Object.entries(self.requests ?? {}).every(([resource, request]) => {
          if (!overcommitForbidden(resource)) return true;
          const limit = self.limits?.[resource];
          return limit !== undefined && quantityValue(request) === quantityValue(limit);
        }),
    },
  ],
);

/** A label key's length: a DNS-subdomain prefix of at most 253 characters, '/' and a 63-character name. */
const labelKeyMaxLength = 253 + 1 + 63;
const labelKeyPrefixMessage = "the prefix before '/' must be at most 253 characters";
const labelKeyPrefixFits = (key: string) => key.indexOf("/") <= 253;

/**
 * A pod toleration, refused exactly where the Pod spec's ValidateTolerations refuses it (the
 * controllers copy it into Deployments and Jobs, whose applies would otherwise fail with a 422).
 * "" for operator or effect is the omitted value, as in the Pod spec.
 */
export const toleration = withRules(
  z.strictObject({
    key: withRules(
      z
        .string()
        .max(labelKeyMaxLength)
        .regex(tolerationKeyPattern, "must be a label key such as nvidia.com/gpu"),
      [{ rule: "self.indexOf('/') <= 253", message: labelKeyPrefixMessage, holds: labelKeyPrefixFits }],
    )
      .optional()
      .describe("Taint key the toleration applies to; empty with operator Exists matches every taint."),
    operator: z
      .enum(["Exists", "Equal", ""])
      .default("Equal")
      .describe("Exists tolerates any value of the key; Equal requires value to match (empty is Equal)."),
    value: z
      .string()
      .max(63)
      .regex(
        labelValuePattern,
        "must be a label value: letters, digits, '-', '_' and '.', alphanumeric at both ends",
      )
      .optional()
      .describe("Taint value to match when operator is Equal (a label value); empty with Exists."),
    effect: z
      .enum(["NoSchedule", "PreferNoSchedule", "NoExecute", ""])
      .optional()
      .describe("Taint effect to match; empty matches all effects."),
    tolerationSeconds: z
      .int()
      .optional()
      .describe(
        "Only with effect NoExecute: how long the pod stays bound after the taint appears (zero or negative: evicted at once); unset is forever.",
      ),
  }),
  [
    {
      rule: "self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: "value must be empty when operator is Exists",
      field: "value",
      reason: "FieldValueForbidden",
      holds: (self) => self.operator !== "Exists" || (self.value ?? "") === "",
    },
    {
      rule: "(has(self.key) && self.key != '') || self.operator == 'Exists'",
      message: "operator must be Exists when key is empty",
      field: "operator",
      holds: (self) => (self.key ?? "") !== "" || self.operator === "Exists",
    },
    {
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: "effect must be NoExecute when tolerationSeconds is set",
      field: "effect",
      holds: (self) => self.tolerationSeconds === undefined || self.effect === "NoExecute",
    },
  ],
);

/** Pod tolerations (at most 32). */
export const tolerations = z.array(toleration).max(32);

/** Node selector labels (at most 32 pairs), keys and values as the Pod spec validates them. */
export const nodeSelector = withRules(
  keysMatching(
    mapOf(
      z
        .string()
        .max(63)
        .regex(
          labelValuePattern,
          "must be a label value: letters, digits, '-', '_' and '.', alphanumeric at both ends",
        ),
      { max: 32 },
    ),
    labelKeyPattern,
    labelKeyMaxLength,
    "a label key (such as nvidia.com/gpu.product)",
  ),
  [
    {
      rule: "self.all(k, k.indexOf('/') <= 253)",
      message: `every key: ${labelKeyPrefixMessage}`,
      holds: (self) => Object.keys(self).every(labelKeyPrefixFits),
    },
  ],
);

/** A status condition with the fields and limits of metav1.Condition. */
export const condition = z.strictObject({
  type: z
    .string()
    .min(1)
    .max(316)
    .regex(conditionTypePattern)
    .describe("Condition type in CamelCase, e.g. Ready, Reconciling, Stalled."),
  status: z
    .enum(["True", "False", "Unknown"])
    .describe("Whether the condition holds: True, False or Unknown."),
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .describe("metadata.generation the condition was computed from; older than the object's means stale."),
  lastTransitionTime: z.iso
    .datetime({ offset: true })
    .describe("When status last changed; unchanged while the condition keeps its status."),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(conditionReasonPattern)
    .describe("CamelCase machine-readable cause of the last transition."),
  message: z.string().max(32768).describe("Human-readable details of the last transition."),
});

/** Status conditions keyed by type (one entry per type). */
export const conditions = listMap(z.array(condition).max(32), ["type"]);

/** A status condition. */
export type Condition = z.output<typeof condition>;

/** `status.observedGeneration`: the spec generation the status describes. */
export function observedGeneration(): z.ZodOptional<z.ZodInt> {
  return z
    .int()
    .min(0)
    .optional()
    .describe(
      "The metadata.generation this status was computed from; lower than metadata.generation while reconciling.",
    );
}

/**
 * What a JUDE object's metadata.name must be, beyond the API server's own rule (a DNS subdomain): the
 * operator derives a Service name and Indexed Job pod hostnames from it, which allow no dots.
 */
export const objectNameRule = {
  pattern: dnsLabelPattern,
  message:
    "metadata.name must be lower-case letters, digits and '-' (no dots): the operator derives Service and pod host names from it",
} as const;

/** Object metadata as controllers read it; the API server validates it, so other fields pass through. */
export const objectMeta = z.looseObject({
  name: z.string().regex(objectNameRule.pattern, objectNameRule.message),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** The standard condition types every JUDE resource reports (the kstatus convention). */
export const standardConditionTypes = ["Ready", "Reconciling", "Stalled"] as const;
