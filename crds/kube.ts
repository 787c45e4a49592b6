// Builders that attach Kubernetes schema semantics to zod schemas. Every rule the API server enforces
// through a CRD extension (CEL rules, list maps, property counts) is declared here together with the
// zod check that enforces the same rule in the controllers, so the two cannot be written apart. The
// converter (openapi.ts) refuses any zod refinement that was not created by these builders.
import { z } from "zod";
import { portableSource, quantityPattern } from "./patterns.ts";

/** How the API server reports a failed CEL rule (the `reason` of `x-kubernetes-validations`). */
export type CelReason =
  "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";

/** One cross-field rule: a CEL expression for the API server and the same predicate for zod. */
export interface CelRule<T> {
  /** CEL evaluated by the API server; `self` is the value the rule is attached to. */
  rule: string;
  /** Shown to the user by both validators; say what is wrong and how to fix it. */
  message: string;
  /** The field the error is reported on, relative to `self` (`serving.replicas`); default `self`. */
  field?: string;
  reason?: CelReason;
  /**
   * The same rule in TypeScript, run by zod on the parsed (defaulted) value. Absent only for
   * transition rules (those reading `oldSelf`), which need the previous object and so exist only in
   * the API server. Method syntax keeps rules of specific types assignable to `CelRule<unknown>`.
   */
  holds?(self: T): boolean;
}

// Typed metadata keys the converter understands; anything else in `.meta()` is rejected there.
declare module "zod" {
  interface GlobalMeta {
    "x-kubernetes-validations"?: CelRule<unknown>[];
    "x-kubernetes-int-or-string"?: true;
    "x-kubernetes-preserve-unknown-fields"?: true;
    "x-kubernetes-list-type"?: "atomic" | "map";
    "x-kubernetes-list-map-keys"?: string[];
    minProperties?: number;
    maxProperties?: number;
  }
}

// Zod checks created here, each paired with an API-server counterpart; see isPairedCheck.
const pairedChecks = new WeakSet<object>();

/** True when a zod check was created by these builders and therefore has an API-server twin. */
export function isPairedCheck(check: object): boolean {
  return pairedChecks.has(check);
}

/** Adds a zod check that the converter will accept because the CRD carries the same rule. */
function withPairedCheck<S extends z.ZodType>(
  schema: S,
  refine: (value: z.output<S>, ctx: z.RefinementCtx<z.output<S>>) => void,
): S {
  const check = z.superRefine<z.output<S>>(refine);
  pairedChecks.add(check);
  return schema.check(check) as S;
}

function assertRule(rule: CelRule<unknown>): void {
  const transition = /\boldSelf\b/.test(rule.rule);
  if (transition === (rule.holds !== undefined)) {
    throw new Error(
      `CEL rule "${rule.rule}": ${transition ? "a transition rule cannot have holds()" : "holds() is required so zod enforces the rule too"}`,
    );
  }
}

/**
 * Attaches cross-field rules: zod checks them on every parse, the generated CRD carries them as
 * `x-kubernetes-validations`. Rules run on defaulted values in both places.
 */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly CelRule<z.output<S>>[]): S {
  rules.forEach((rule) => assertRule(rule as CelRule<unknown>));
  const enforced = rules.filter((rule) => rule.holds !== undefined);
  const checked =
    enforced.length === 0
      ? schema
      : withPairedCheck(schema, (value, ctx) => {
          for (const rule of enforced) {
            if (rule.holds?.(value) === false) {
              ctx.addIssue({ code: "custom", message: rule.message, path: rule.field?.split(".") ?? [] });
            }
          }
        });
  const existing = checked.meta()?.["x-kubernetes-validations"] ?? [];
  return checked.meta({
    "x-kubernetes-validations": [...existing, ...(rules as readonly CelRule<unknown>[])],
  }) as S;
}

/** Embeds a RegExp in CEL as a raw string literal, so backslashes need no second escaping. */
export function celRegex(pattern: RegExp): string {
  const source = portableSource(pattern);
  if (source.includes("'")) throw new Error(`pattern ${String(pattern)} cannot be a raw CEL string`);
  return `r'${source}'`;
}

/** A string-keyed map with a bounded number of entries (`minProperties`/`maxProperties`). */
export function mapOf<V extends z.ZodType>(
  value: V,
  bounds: { min?: number; max: number },
): z.ZodRecord<z.ZodString, V> {
  const min = bounds.min ?? 0;
  const record = withPairedCheck(z.record(z.string(), value), (map, ctx) => {
    const size = Object.keys(map).length;
    if (size < min) ctx.addIssue({ code: "custom", message: `must have at least ${min} entries` });
    if (size > bounds.max)
      ctx.addIssue({ code: "custom", message: `must have at most ${bounds.max} entries` });
  });
  return record.meta(
    min > 0 ? { minProperties: min, maxProperties: bounds.max } : { maxProperties: bounds.max },
  );
}

/** Requires every key of a map to match a pattern and length (OpenAPI cannot constrain keys). */
export function keysMatching<S extends z.ZodType<Record<string, unknown>>>(
  map: S,
  pattern: RegExp,
  maxLength: number,
  what: string,
): S {
  return withRules(map, [
    {
      rule: `self.all(k, size(k) <= ${maxLength} && k.matches(${celRegex(pattern)}))`,
      message: `every key must be ${what} of at most ${maxLength} characters`,
      holds: (self) => Object.keys(self).every((key) => key.length <= maxLength && pattern.test(key)),
    },
  ]);
}

/**
 * A list whose items are identified by key fields (`x-kubernetes-list-type: map`): server-side apply
 * merges items by key, and both validators reject two items with the same key.
 */
export function listMap<A extends z.ZodArray>(array: A, keys: readonly string[]): A {
  const unique = withPairedCheck(array, (items, ctx) => {
    const seen = new Set<string>();
    items.forEach((item, index) => {
      const id = JSON.stringify(keys.map((key) => (item as Record<string, unknown>)[key]));
      if (seen.has(id)) ctx.addIssue({ code: "custom", message: "duplicate entry", path: [index] });
      seen.add(id);
    });
  });
  return unique.meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [...keys] });
}

/**
 * A container resource quantity such as `2`, `500m` or `16Gi` (int-or-string, like core types); never
 * negative, since the API server refuses a negative request or limit in the Deployment or Job.
 */
export function quantity(): z.ZodUnion<readonly [z.ZodInt, z.ZodString]> {
  return z
    .union([
      z.int().min(0),
      z.string().max(64).regex(quantityPattern, "must be a non-negative quantity such as 500m, 2 or 4Gi"),
    ])
    .meta({ "x-kubernetes-int-or-string": true });
}

const quantitySuffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a quantity that matches quantityPattern, as a float: close enough to compare a request
 * with its limit as the API server's CEL `quantity(...).compareTo(...)` does.
 */
export function quantityValue(value: number | string): number {
  if (typeof value === "number") return value;
  const match = /^\+?([0-9.]+)([eE][-+]?[0-9.]+|[KMGTPE]i|[numkMGTPE])?$/.exec(value);
  if (match === null) return Number.NaN;
  const [, digits, suffix] = match;
  if (suffix === undefined) return Number(digits);
  if (/^[eE][-+0-9.]/.test(suffix)) return Number(`${digits}${suffix}`);
  return Number(digits) * quantitySuffixes[suffix]!;
}

/** An object the API server stores as given (`x-kubernetes-preserve-unknown-fields`). */
export function opaqueObject(): z.ZodRecord<z.ZodString, z.ZodUnknown> {
  return z.record(z.string(), z.unknown()).meta({ "x-kubernetes-preserve-unknown-fields": true });
}
