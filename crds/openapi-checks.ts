// Folds zod checks (lengths, bounds, formats, patterns, refinements) into OpenAPI value validations.
// Every check kind zod could run must be either expressed here or refused, so zod and the API server
// never enforce different constraints on one field.
import type { z } from "zod";
import type { JSONSchemaProps } from "./json-schema-props.ts";
import { isPairedCheck } from "./kube.ts";
import { portableSource } from "./patterns.ts";

/** Any zod schema. */
export type AnySchema = z.core.$ZodType;

// Several bounds on one number (a format's range and explicit checks): keep the tightest.
function narrowMinimum(out: JSONSchemaProps, value: number, exclusive: boolean): void {
  if (out.minimum !== undefined && (value < out.minimum || (value === out.minimum && !exclusive))) return;
  out.minimum = value;
  if (exclusive) out.exclusiveMinimum = true;
  else delete out.exclusiveMinimum;
}

function narrowMaximum(out: JSONSchemaProps, value: number, exclusive: boolean): void {
  if (out.maximum !== undefined && (value > out.maximum || (value === out.maximum && !exclusive))) return;
  out.maximum = value;
  if (exclusive) out.exclusiveMaximum = true;
  else delete out.exclusiveMaximum;
}

/** Folds a schema's zod checks (length, bounds, formats, patterns) into OpenAPI value validations. */
export function applyChecks(core: AnySchema, out: JSONSchemaProps, path: string): void {
  const def = core._zod.def as z.core.$ZodTypeDef & { checks?: z.core.$ZodCheck[] };
  // A format schema such as z.int() or z.iso.datetime() is its own first check.
  const checks = [
    ...(core._zod.traits.has("$ZodCheck") ? [core as unknown as z.core.$ZodCheck] : []),
    ...(def.checks ?? []),
  ];
  const isArray = def.type === "array";
  for (const check of checks) {
    const c = check._zod.def as z.core.$ZodCheckDef & Record<string, unknown>;
    switch (c.check) {
      case "min_length":
        out[isArray ? "minItems" : "minLength"] = c.minimum as number;
        break;
      case "max_length":
        out[isArray ? "maxItems" : "maxLength"] = c.maximum as number;
        break;
      case "greater_than":
        narrowMinimum(out, c.value as number, c.inclusive !== true);
        break;
      case "less_than":
        narrowMaximum(out, c.value as number, c.inclusive !== true);
        break;
      case "number_format":
        out.type = "integer";
        if (c.format === "int32") {
          // zod enforces the int32 range; state it as bounds rather than trusting the format alone.
          out.format = "int32";
          narrowMinimum(out, -2147483648, false);
          narrowMaximum(out, 2147483647, false);
        } else if (c.format !== "safeint") {
          throw new Error(`${path}: unsupported number format ${String(c.format)}`);
        }
        break;
      case "string_format":
        if (c.format === "regex") {
          if (out.pattern !== undefined) throw new Error(`${path}: only one pattern per string is supported`);
          const pattern = c.pattern as RegExp;
          if (pattern.flags !== "") throw new Error(`${path}: regex flags have no RE2 equivalent in the CRD`);
          out.pattern = portableSource(pattern);
        } else if (c.format === "datetime" && c.offset === true) {
          out.format = "date-time";
        } else {
          throw new Error(
            `${path}: unsupported string format ${String(c.format)} (datetimes need {offset: true})`,
          );
        }
        break;
      case "custom":
        if (!isPairedCheck(check)) {
          throw new Error(`${path}: a zod refinement without a CEL twin; use withRules() from kube.ts`);
        }
        break;
      default:
        throw new Error(`${path}: unsupported check ${String(c.check)}`);
    }
  }
}
