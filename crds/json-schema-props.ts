// The apiextensions.k8s.io/v1 JSONSchemaProps fields the generated CRDs use, and their order in YAML.

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that the generated CRDs use. */
export interface JSONSchemaProps {
  description?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  exclusiveMinimum?: boolean;
  maximum?: number;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-list-type"?: "atomic" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: ValidationRule[];
}

/** One entry of `x-kubernetes-validations`. */
export interface ValidationRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: string;
}

// Keys in reading order (what a field is, then its constraints, then its children) for stable YAML.
const keyOrder: (keyof JSONSchemaProps)[] = [
  "description",
  "type",
  "anyOf",
  "format",
  "enum",
  "default",
  "minimum",
  "exclusiveMinimum",
  "maximum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "properties",
  "required",
  "items",
  "additionalProperties",
  "x-kubernetes-validations",
];

/** Orders a schema's keys for stable, readable YAML; throws on a key it does not know. */
export function canonicalOrder(schema: JSONSchemaProps): JSONSchemaProps {
  const unknownKeys = Object.keys(schema).filter((key) => !keyOrder.includes(key as keyof JSONSchemaProps));
  if (unknownKeys.length > 0) throw new Error(`unordered schema keys ${unknownKeys.join(", ")}`);
  return Object.fromEntries(keyOrder.filter((key) => key in schema).map((key) => [key, schema[key]]));
}
