/**
 * Prompt templates, shared by the server (prompt names in Embed requests) and the nearline and
 * bootstrap pipelines (which render an entity's fields). Pure functions: no I/O, no state.
 *
 * A template is either a plain prefix ("query: ") that is put before the text, as sentence-transformers
 * and text-embeddings-inference do with prompt names, or a text with `{{field}}` placeholders such as
 * "Job: {{title}} at {{company}}. {{description}}".
 */

const placeholder = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;

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

/**
 * Applies a named prompt to one input: a template with placeholders is rendered with the input's
 * fields plus `text`; a template without placeholders is a prefix to the text.
 */
export function applyPrompt(
  template: string,
  text: string,
  fields: Readonly<Record<string, string>> = {},
): string {
  if (templateFields(template).length === 0) return template + text;
  return renderPromptTemplate(template, { ...fields, text });
}
