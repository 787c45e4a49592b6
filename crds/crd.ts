// Builds the apiextensions.k8s.io/v1 CustomResourceDefinition of a kind from its definition. The
// object's key order is fixed so the generated YAML is stable and diffs stay readable.
import { objectNameRule } from "./common.ts";
import type { JSONSchemaProps } from "./json-schema-props.ts";
import { portableSource } from "./patterns.ts";
import { toStructuralSchema } from "./openapi.ts";
import { group, version, type KindDefinition, type PrinterColumn } from "./resource.ts";

/** The CustomResourceDefinition fields this project generates. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: "Namespaced";
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      selectableFields?: { jsonPath: string }[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

/**
 * The status an object reads with until a controller writes one (the API server applies it on every
 * read). kstatus (Flux's `wait`, kpt, Config Sync) reads an object with neither observedGeneration nor
 * conditions as Current, so a model applied a moment ago would pass as ready before the operator saw
 * it; observedGeneration 0 (below every generation) reads as "in progress" instead. The operator's
 * first status write replaces it.
 */
export const notYetObserved = { observedGeneration: 0 } as const;

/** `kubectl get jude` lists every JUDE resource. */
export const category = "jude";

/** The CRD's metadata.name: `<plural>.jude.dev`. */
export function crdName(kind: KindDefinition): string {
  return `${kind.plural}.${group}`;
}

/** Builds the CRD for one kind; throws when its zod schema has no faithful structural form. */
export function buildCrd(kind: KindDefinition): CustomResourceDefinition {
  const openAPIV3Schema: JSONSchemaProps = {
    description: kind.description,
    type: "object",
    properties: {
      apiVersion: {
        description: "Versioned schema of this object; jude.dev/v1alpha1.",
        type: "string",
      },
      kind: { description: `Kind of this object; ${kind.kind}.`, type: "string" },
      metadata: { type: "object" },
      spec: toStructuralSchema(kind.spec, "spec"),
      status: { ...toStructuralSchema(kind.status, "status"), default: notYetObserved },
    },
    required: ["spec"],
    // CEL sees metadata.name only from the root; the API server itself only checks for a DNS subdomain.
    "x-kubernetes-validations": [
      {
        rule: `self.metadata.name.matches(r'${portableSource(objectNameRule.pattern)}')`,
        message: objectNameRule.message,
      },
    ],
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: crdName(kind),
      labels: { "app.kubernetes.io/name": "jude", "app.kubernetes.io/part-of": "jude" },
    },
    spec: {
      group,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: [category],
      },
      scope: "Namespaced",
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: kind.printerColumns,
          ...(kind.selectableFields
            ? { selectableFields: kind.selectableFields.map((jsonPath) => ({ jsonPath })) }
            : {}),
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
