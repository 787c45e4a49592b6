// Pod affinity with the fields of the core v1 Affinity type (Kubernetes 1.34), so `kubectl apply`
// refuses a misspelled or missing field under spec.serving.affinity with its path, as it does for
// every other field. Stored as given before, a typo was accepted and surfaced only a minute later as a
// ReconcileError naming the Deployment's field ("field not declared in schema"). Values (operators,
// label syntax) are still left to the API server's Pod validation, which knows its own rules.
import { z } from "zod";

const weight = () =>
  z.int().min(1).max(100).describe("Weight of this term among the preferred ones, 1 to 100.");

/** A node selector requirement: key, operator and values. */
const nodeSelectorRequirement = z.strictObject({
  key: z.string().describe("The node label (or field) key the requirement applies to."),
  operator: z.string().describe("In, NotIn, Exists, DoesNotExist, Gt or Lt."),
  values: z
    .array(z.string())
    .optional()
    .describe("Values for In and NotIn, one integer for Gt and Lt, empty for Exists and DoesNotExist."),
});

/** A node selector term: its requirements are ANDed. */
const nodeSelectorTerm = z.strictObject({
  matchExpressions: z
    .array(nodeSelectorRequirement)
    .optional()
    .describe("Requirements on node labels, all of which must hold."),
  matchFields: z
    .array(nodeSelectorRequirement)
    .optional()
    .describe("Requirements on node fields (metadata.name), all of which must hold."),
});

const nodeAffinity = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z
    .strictObject({
      nodeSelectorTerms: z
        .array(nodeSelectorTerm)
        .describe("Terms of which at least one must match the node (ORed)."),
    })
    .optional()
    .describe("Node requirements a pod must meet to be scheduled."),
  preferredDuringSchedulingIgnoredDuringExecution: z
    .array(
      z.strictObject({
        weight: weight(),
        preference: nodeSelectorTerm.describe("The node selector term preferred."),
      }),
    )
    .optional()
    .describe("Node preferences the scheduler weighs; a pod may land on a node that meets none."),
});

/** A label selector, as in metav1.LabelSelector. */
const labelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional().describe("Labels that must all be equal."),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string().describe("The label key the requirement applies to."),
        operator: z.string().describe("In, NotIn, Exists or DoesNotExist."),
        values: z
          .array(z.string())
          .optional()
          .describe("Values for In and NotIn; empty for Exists and DoesNotExist."),
      }),
    )
    .optional()
    .describe("Label requirements, all of which must hold."),
});

/** A pod affinity term: pods matching labelSelector in namespaces, per topologyKey domain. */
const podAffinityTerm = z.strictObject({
  labelSelector: labelSelector.optional().describe("The pods this term is about."),
  namespaceSelector: labelSelector
    .optional()
    .describe("Namespaces whose pods are considered, by label; with namespaces, their union."),
  namespaces: z
    .array(z.string())
    .optional()
    .describe("Namespaces whose pods are considered; empty with no namespaceSelector means this pod's."),
  topologyKey: z
    .string()
    .describe("Node label defining a domain (kubernetes.io/hostname, topology.kubernetes.io/zone)."),
  matchLabelKeys: z
    .array(z.string())
    .optional()
    .describe("Pod label keys whose values, taken from the incoming pod, are added to labelSelector."),
  mismatchLabelKeys: z
    .array(z.string())
    .optional()
    .describe("Pod label keys whose values, taken from the incoming pod, must differ."),
});

const podAffinityTerms = (what: string) =>
  z.strictObject({
    requiredDuringSchedulingIgnoredDuringExecution: z
      .array(podAffinityTerm)
      .optional()
      .describe(`Terms a pod must meet to be scheduled (${what}).`),
    preferredDuringSchedulingIgnoredDuringExecution: z
      .array(
        z.strictObject({
          weight: weight(),
          podAffinityTerm: podAffinityTerm.describe("The pod affinity term preferred."),
        }),
      )
      .optional()
      .describe(`Terms the scheduler weighs (${what}); a pod may land where none holds.`),
  });

/** Pod affinity of serving pods, copied into the pod spec. */
export const affinity = z.strictObject({
  nodeAffinity: nodeAffinity.optional().describe("Node affinity terms, as in the core Pod spec."),
  podAffinity: podAffinityTerms("near pods matching a term")
    .optional()
    .describe("Pod affinity terms, as in the core Pod spec."),
  podAntiAffinity: podAffinityTerms("away from pods matching a term")
    .optional()
    .describe("Pod anti-affinity terms, as in the core Pod spec, e.g. to spread replicas over nodes."),
});
