// What every JUDE kind shares: the API group and version, the object envelope (apiVersion, kind,
// metadata, spec, status), the description of a kind for CRD generation, and parsing with errors that
// name the offending field the way the API server does.
import { z } from "zod";
import { objectMeta } from "./common.ts";

/** API group of every JUDE resource. */
export const group = "jude.dev";
/** The one served and stored version. */
export const version = "v1alpha1";
/** `apiVersion` of every JUDE object. */
export const apiVersion = `${group}/${version}`;

/** An `additionalPrinterColumns` entry: what `kubectl get` shows. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  /** 0 shows in `kubectl get`; 1 only with `-o wide`. */
  priority?: number;
}

/**
 * `kubectl get -o wide`: the Ready condition's message, so a list says why an object is not ready
 * without a `describe` per object (cert-manager and Flux show the same column).
 */
export const readyMessageColumn: PrinterColumn = {
  name: "Status",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].message',
  description: "The Ready condition's message: why the object is or is not ready.",
  priority: 1,
};

/** Everything CRD generation needs to know about one kind. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** Shown by `kubectl explain <kind>`. */
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /** Fields usable in `kubectl get --field-selector` and by controllers' list calls. */
  selectableFields?: string[];
  /** The module defining the kind, named in the generated file's header. */
  source: string;
}

/** The zod schema of a whole object of one kind. */
export function resourceSchema<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(
  kind: K,
  spec: Spec,
  status: Status,
) {
  return z.strictObject({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}

/** One problem found in an object, with the path of the offending field. */
export interface ResourceIssue {
  /** Field path in the API server's notation: `spec.serving.tolerations[0].operator`. */
  path: string;
  message: string;
}

/** A JUDE object failed validation. Terminal for a reconcile: retrying cannot fix the object. */
export class InvalidResourceError extends Error {
  /** Stable code for callers that branch on the error. */
  readonly code = "ERR_JUDE_INVALID_RESOURCE";
  readonly issues: readonly ResourceIssue[];

  constructor(kind: string, objectName: string, issues: readonly ResourceIssue[], options?: ErrorOptions) {
    super(
      `${kind} ${objectName} is invalid: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ")}`,
      options,
    );
    this.name = "InvalidResourceError";
    this.issues = issues;
  }
}

/** Formats a zod issue path like the API server: dots between names, brackets around indexes. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out === "" ? "<root>" : out;
}

/** Flattens zod issues into field-path issues; an unknown key becomes an issue on that key. */
export function resourceIssues(error: z.ZodError): ResourceIssue[] {
  const issues: ResourceIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys)
        issues.push({ path: formatPath([...issue.path, key]), message: "unknown field" });
    } else if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
      issues.push({ path: formatPath(issue.path), message: "Required value" });
    } else {
      issues.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return issues;
}

function objectName(value: unknown): string {
  const metadata = (value as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof metadata?.name === "string" ? metadata.name : "<unnamed>";
  return typeof metadata?.namespace === "string" ? `${metadata.namespace}/${name}` : name;
}

/** Result of checking an object without throwing. */
export type ParseResult<T> = { success: true; data: T } | { success: false; error: InvalidResourceError };

/**
 * How a parse treats a field the schema does not declare. A manifest a user wrote refuses it (a typo
 * must not pass silently). An object read from the API server drops it: the server prunes every field
 * its CRD does not declare, so one unknown here was declared by a newer release's CRD, applied by
 * `helm upgrade` while this release's operator still runs (until the new pod is ready, or for good
 * after an image rollback with the newer CRDs kept), and filled in on every read where that CRD gives
 * a default. Refused, every object read InvalidSpec (Stalled) meanwhile; dropped, this operator goes
 * on as before the upgrade, as Go operators do (their structs ignore unknown JSON fields).
 */
export interface ParseOptions {
  unknownFields?: "refuse" | "drop";
}

/** Parse options for an object read from the API server (see ParseOptions). */
export const fromApiServer: ParseOptions = { unknownFields: "drop" };

/** `value` without the fields `error` names unknown, or undefined when it names none. */
function withoutUnknownFields(value: unknown, error: z.ZodError): unknown {
  const unknownAt = error.issues.filter((issue) => issue.code === "unrecognized_keys");
  if (unknownAt.length === 0) return undefined;
  const copy = structuredClone(value);
  for (const issue of unknownAt) {
    let at: unknown = copy;
    for (const segment of issue.path) at = (at as Record<PropertyKey, unknown> | undefined)?.[segment];
    if (typeof at !== "object" || at === null) continue;
    for (const key of issue.keys) delete (at as Record<string, unknown>)[key];
  }
  return copy;
}

/**
 * `schema.safeParse(value)`, or with `options.unknownFields` "drop", of `value` without the fields the
 * schema does not declare (see ParseOptions). Also for a part of an object kept elsewhere as the API
 * server gave it (a version record's spec): read the same way, it compares equal to the object's.
 */
export function safeParseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  options: ParseOptions = {},
): z.ZodSafeParseResult<z.output<S>> {
  const result = schema.safeParse(value);
  if (result.success || options.unknownFields !== "drop") return result;
  const known = withoutUnknownFields(value, result.error);
  return known === undefined ? result : schema.safeParse(known);
}

/** Validates and defaults an object of `kind`, returning the typed value or an InvalidResourceError. */
export function safeParseResource<S extends z.ZodType>(
  schema: S,
  kind: string,
  value: unknown,
  options: ParseOptions = {},
): ParseResult<z.output<S>> {
  const result = safeParseWith(schema, value, options);
  if (result.success) return { success: true, data: result.data };
  return {
    success: false,
    error: new InvalidResourceError(kind, objectName(value), resourceIssues(result.error), {
      cause: result.error,
    }),
  };
}

/** Validates and defaults an object of `kind`; throws InvalidResourceError naming each bad field. */
export function parseResource<S extends z.ZodType>(schema: S, kind: string, value: unknown): z.output<S> {
  const result = safeParseResource(schema, kind, value);
  if (!result.success) throw result.error;
  return result.data;
}
