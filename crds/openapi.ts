// Converts a zod schema into the structural OpenAPI v3 schema a CustomResourceDefinition needs.
// zod's own z.toJSONSchema targets JSON Schema, whose unions, $refs and `additionalProperties: false`
// the API server rejects or ignores; a CRD also needs x-kubernetes-* extensions. This converter
// handles exactly the zod features the JUDE schemas use and throws on anything else, so a schema that
// zod and the API server would validate differently cannot be generated silently.
import { z } from "zod";
import { canonicalOrder, type JSONSchemaProps } from "./json-schema-props.ts";
import type { CelRule } from "./kube.ts";
import { applyChecks, type AnySchema } from "./openapi-checks.ts";

// Wrappers that only change optionality or supply a default; the converter looks through them.
const wrapperTypes = new Set(["optional", "default", "prefault"]);
const allowedMetaKeys = new Set([
  "description",
  "x-kubernetes-validations",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "minProperties",
  "maxProperties",
]);

interface Unwrapped {
  core: AnySchema;
  optional: boolean;
  defaultValue?: unknown;
  meta: z.GlobalMeta;
  rules: CelRule<unknown>[];
}

/** Looks through optional/default wrappers, merging their metadata (the outermost description wins). */
function unwrap(schema: AnySchema, path: string): Unwrapped {
  const layers: AnySchema[] = [];
  let current = schema;
  let optional = false;
  let defaultValue: unknown;
  for (;;) {
    layers.push(current);
    const def = current._zod.def as z.core.$ZodTypeDef & { innerType?: AnySchema; defaultValue?: unknown };
    if (!wrapperTypes.has(def.type)) break;
    optional = true;
    if (def.type !== "optional" && defaultValue === undefined) {
      defaultValue = def.defaultValue;
      const inner = def.innerType as AnySchema;
      if (!z.safeParse(inner, defaultValue).success)
        throw new Error(`${path}: the default does not validate`);
    }
    current = def.innerType as AnySchema;
  }
  const meta: z.GlobalMeta = {};
  const rules: CelRule<unknown>[] = [];
  for (const layer of layers.reverse()) {
    const layerMeta = z.globalRegistry.get(layer) ?? {};
    for (const key of Object.keys(layerMeta)) {
      if (!allowedMetaKeys.has(key)) throw new Error(`${path}: unsupported metadata key "${key}"`);
    }
    Object.assign(meta, layerMeta);
    for (const rule of layerMeta["x-kubernetes-validations"] ?? []) {
      if (!rules.includes(rule)) rules.push(rule);
    }
  }
  return { core: current, optional, defaultValue, meta, rules };
}

/** Checks that a CEL fieldPath names a property that exists, as the API server will at CRD creation. */
function assertFieldPath(schema: JSONSchemaProps, field: string, path: string): void {
  let node: JSONSchemaProps | undefined = schema;
  for (const segment of field.split(".")) node = node?.properties?.[segment];
  if (node === undefined) throw new Error(`${path}: CEL fieldPath .${field} names no property`);
}

function convertCore(core: AnySchema, meta: z.GlobalMeta, path: string): JSONSchemaProps {
  const def = core._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  const out: JSONSchemaProps = {};
  switch (def.type) {
    case "string":
      out.type = "string";
      break;
    case "number":
      out.type = "number";
      break;
    case "boolean":
      out.type = "boolean";
      break;
    case "enum": {
      const values = Object.values(def.entries as Record<string, unknown>);
      if (!values.every((value) => typeof value === "string")) throw new Error(`${path}: only string enums`);
      out.type = "string";
      out.enum = values as string[];
      break;
    }
    case "object":
      Object.assign(out, convertObject(core as z.core.$ZodObject, path));
      break;
    case "array":
      out.type = "array";
      out.items = toStructuralSchema(def.element as AnySchema, `${path}[]`, false);
      break;
    case "record": {
      const key = def.keyType as AnySchema;
      const keyDef = key._zod.def as z.core.$ZodTypeDef & { checks?: unknown[] };
      if (keyDef.type !== "string" || (keyDef.checks?.length ?? 0) > 0) {
        throw new Error(`${path}: map keys must be plain z.string(); constrain them with keysMatching()`);
      }
      out.type = "object";
      if (meta["x-kubernetes-preserve-unknown-fields"]) {
        if ((def.valueType as AnySchema)._zod.def.type !== "unknown")
          throw new Error(`${path}: opaque maps hold unknown`);
        break;
      }
      if (meta.minProperties !== undefined) out.minProperties = meta.minProperties;
      if (meta.maxProperties !== undefined) out.maxProperties = meta.maxProperties;
      out.additionalProperties = toStructuralSchema(def.valueType as AnySchema, `${path}.*`, false);
      break;
    }
    case "union":
      Object.assign(out, convertIntOrString(def.options as AnySchema[], meta, path));
      break;
    default:
      throw new Error(`${path}: zod type "${def.type}" has no structural OpenAPI form here`);
  }
  applyChecks(core, out, path);
  return out;
}

/** Only int-or-string unions are structural; their string branch's checks apply to the whole value. */
function convertIntOrString(options: AnySchema[], meta: z.GlobalMeta, path: string): JSONSchemaProps {
  const [integer, string] = options;
  if (
    !meta["x-kubernetes-int-or-string"] ||
    options.length !== 2 ||
    integer === undefined ||
    string === undefined
  ) {
    throw new Error(`${path}: the only supported union is int-or-string (see quantity())`);
  }
  const intPart = convertCore(integer, {}, path);
  const stringPart = convertCore(string, {}, path);
  if (intPart.type !== "integer" || stringPart.type !== "string")
    throw new Error(`${path}: expected [int, string]`);
  // Numeric checks (minimum) bind only integers, string checks (pattern) only strings.
  const { type: _type, ...stringChecks } = stringPart;
  const { type: _intType, ...intChecks } = intPart;
  return { anyOf: [{ type: "integer" }, { type: "string" }], ...intChecks, ...stringChecks };
}

function convertObject(object: z.core.$ZodObject, path: string): JSONSchemaProps {
  const def = object._zod.def;
  const catchall = def.catchall?._zod.def.type;
  if (catchall !== "never" && catchall !== "unknown") {
    // A stripping object silently drops fields the API server (strict field validation) rejects.
    throw new Error(`${path}: use z.strictObject (or z.looseObject for preserved fields)`);
  }
  const out: JSONSchemaProps = { type: "object" };
  const properties: Record<string, JSONSchemaProps> = {};
  const required: string[] = [];
  for (const [name, property] of Object.entries(def.shape)) {
    const propertyPath = `${path}.${name}`;
    const converted = toStructuralSchema(property, propertyPath, true);
    properties[name] = converted;
    if (!unwrap(property, propertyPath).optional) required.push(name);
  }
  if (Object.keys(properties).length > 0) out.properties = properties;
  if (required.length > 0) out.required = required;
  if (catchall === "unknown") out["x-kubernetes-preserve-unknown-fields"] = true;
  return out;
}

// kubectl explain prints descriptions but not defaults, so scalar defaults are spelled out in the text.
function describeDefault(description: string, defaultValue: unknown): string {
  const scalar = ["string", "number", "boolean"].includes(typeof defaultValue);
  return scalar ? `${description} Defaults to ${String(defaultValue)}.` : description;
}

/**
 * Converts one zod schema to a structural schema. `path` names it in errors (`spec.serving`);
 * `requireDescription` makes a missing description an error, as every field must teach `kubectl explain`.
 */
export function toStructuralSchema(
  schema: AnySchema,
  path: string,
  requireDescription = true,
): JSONSchemaProps {
  const { core, defaultValue, meta, rules } = unwrap(schema, path);
  if (requireDescription && !meta.description) throw new Error(`${path}: every field needs a description`);
  const body = convertCore(core, meta, path);
  const out: JSONSchemaProps = {};
  if (meta.description) out.description = describeDefault(meta.description, defaultValue);
  Object.assign(out, body);
  if (defaultValue !== undefined) out.default = defaultValue;
  if (meta["x-kubernetes-int-or-string"]) out["x-kubernetes-int-or-string"] = true;
  if (meta["x-kubernetes-preserve-unknown-fields"]) out["x-kubernetes-preserve-unknown-fields"] = true;
  if (meta["x-kubernetes-list-type"]) out["x-kubernetes-list-type"] = meta["x-kubernetes-list-type"];
  if (meta["x-kubernetes-list-map-keys"])
    out["x-kubernetes-list-map-keys"] = meta["x-kubernetes-list-map-keys"];
  if (rules.length > 0) {
    out["x-kubernetes-validations"] = rules.map((rule) => {
      if (rule.field !== undefined) assertFieldPath(out, rule.field, path);
      return {
        rule: rule.rule,
        message: rule.message,
        ...(rule.field !== undefined ? { fieldPath: `.${rule.field}` } : {}),
        ...(rule.reason !== undefined ? { reason: rule.reason } : {}),
      };
    });
  }
  return canonicalOrder(out);
}
