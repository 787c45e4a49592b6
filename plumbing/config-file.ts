/**
 * Config files of every process: read YAML or JSON (JSON is YAML, so one parser reads both), validate
 * with a zod schema, and report every problem with its field path in one readable error.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

/** An invalid or unreadable config; the message names the file and every problem with its path. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Formats zod issues as `  path.to.field: message` lines (`(root)` for the document itself). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => `  ${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`)
    .join("\n");
}

/** Validates a parsed document; throws a ConfigError "invalid <what>:" listing every issue. */
export function parseConfig<T extends z.ZodType>(schema: T, document: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(document);
  if (result.success) return result.data;
  throw new ConfigError(`invalid ${what}:\n${formatIssues(result.error.issues)}`);
}

/**
 * Reads a YAML or JSON file into a mapping; an empty file is an empty mapping. Throws a ConfigError
 * "cannot read <what> <path>: ..." for a missing file or bad syntax, and for a document that is not a
 * mapping.
 */
export function readConfigDocument(path: string, what: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigError(`${what} ${path} must be a mapping`);
  }
  return document as Record<string, unknown>;
}

/** Reads and validates a config file: `readConfigDocument` then `parseConfig`. */
export function loadConfigFile<T extends z.ZodType>(schema: T, path: string, what: string): z.infer<T> {
  return parseConfig(schema, readConfigDocument(path, what), `${what} ${path}`);
}
