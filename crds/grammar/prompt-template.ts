/**
 * The prompt template grammar, in one place: the pattern the API server checks (EmbeddingModel prompts,
 * through crds/patterns.ts), the field names a NearlinePipeline may extract, and the renderer the
 * embedding server and the pipelines run are built from the same definitions, so a template admitted
 * by one renders the same placeholders in the other. Pure functions: no I/O, no state.
 *
 * A template is free text in which braces appear only as `{{field}}` placeholders (spaces inside the
 * braces allowed), e.g. "Job: {{title}} at {{company}}. {{description}}". Rejecting stray braces
 * catches `{title}` and `{{title}` typos at admission instead of embedding a literal brace into
 * millions of vectors.
 */

// RE2/JavaScript-portable sources (see crds/patterns.ts on the dialect).
const fieldName = "[A-Za-z_][A-Za-z0-9_]*";
const placeholderSource = `\\{\\{ *(${fieldName}) *\\}\\}`;

/** A name usable both as an extracted field and as a `{{placeholder}}` in a prompt template. */
export const fieldNamePattern = new RegExp(`^${fieldName}$`);

/** A whole template, anchored: text without braces, or placeholders. */
export const promptTemplatePattern = new RegExp(`^([^{}]|\\{\\{ *${fieldName} *\\}\\})*$`);

// Every placeholder in a template, with the field name captured.
const placeholder = new RegExp(placeholderSource, "g");

/** Thrown by `renderPromptTemplate` when a placeholder has no value. */
export class MissingPromptFieldError extends Error {
  override readonly name = "MissingPromptFieldError";
  readonly field: string;

  constructor(field: string) {
    super(`prompt template needs the field "${field}"`);
    this.field = field;
  }
}

/** The field names a template refers to, in order of first use. */
export function templateFields(template: string): string[] {
  return [...new Set(Array.from(template.matchAll(placeholder), (match) => match[1] ?? ""))];
}

/**
 * Replaces every `{{field}}` with its value. A missing field throws `MissingPromptFieldError`, unless
 * `missing` is "empty", which renders it as an empty string (useful for optional entity fields).
 */
export function renderPromptTemplate(
  template: string,
  fields: Readonly<Record<string, string | undefined>>,
  options: { missing?: "throw" | "empty" } = {},
): string {
  return template.replace(placeholder, (_match, name: string) => {
    const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (value !== undefined) return value;
    if (options.missing === "empty") return "";
    throw new MissingPromptFieldError(name);
  });
}
