/**
 * Named prompts of the embedding server. A template is either a plain prefix ("query: ") put before
 * the text, as sentence-transformers and text-embeddings-inference do with prompt names, or a template
 * with `{{field}}` placeholders (grammar and renderer: crds/grammar/prompt-template.ts).
 */
import { renderPromptTemplate, templateFields } from "../../crds/grammar/prompt-template.ts";

export {
  MissingPromptFieldError,
  renderPromptTemplate,
  templateFields,
} from "../../crds/grammar/prompt-template.ts";

/** A named prompt ready to apply: input text and fields in, prompt text out. */
export type CompiledPrompt = (text: string, fields?: Readonly<Record<string, string>>) => string;

/**
 * Compiles a named prompt once (the server applies it per input): a template with placeholders is
 * rendered with the input's fields plus `text` (a missing field throws MissingPromptFieldError); a
 * template without placeholders is a prefix to the text.
 */
export function compilePrompt(template: string): CompiledPrompt {
  if (templateFields(template).length === 0) return (text) => template + text;
  return (text, fields = {}) => renderPromptTemplate(template, { ...fields, text });
}

/** Applies a prompt to one input; see `compilePrompt`. */
export function applyPrompt(
  template: string,
  text: string,
  fields: Readonly<Record<string, string>> = {},
): string {
  return compilePrompt(template)(text, fields);
}
