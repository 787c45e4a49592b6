/**
 * The text of an entity and its content hash — the one piece of logic nearline and bootstrap must
 * share exactly, or change detection and dedup would disagree between them.
 */
import { createHash } from "node:crypto";
import { renderPromptTemplate } from "../../crds/grammar/prompt-template.ts";
import { compileJsonPath, fieldText, flattenArrays } from "../../crds/grammar/json-path.ts";

/**
 * Normalises text so that changes which do not change meaning do not change the hash: Unicode NFC,
 * invisible characters (soft hyphen, zero-width space, word joiner, BOM) removed, every run of
 * whitespace (including no-break spaces) one space, trimmed. Invisible characters are removed, not
 * made spaces: "Java\u200bScript" reads (and tokenizes, for BERT-style tokenizers) as "JavaScript".
 */
export function normalizeText(text: string): string {
  return text
    .normalize("NFC")
    .replace(/[\u00ad\u200b\u2060\ufeff]/gu, "")
    .replace(/\s+/gu, " ")
    .trim();
}

/** Stable short hash of a prompt template, carried in output records for offline training. */
export function templateHash(template: string): string {
  return createHash("sha256").update(template).digest("hex").slice(0, 16);
}

/**
 * The content hash change detection and dedup compare: SHA-256 over the normalised text, the
 * template and the model version, so a new template or model version never matches an old hash.
 */
export function contentHash(normalizedText: string, template: string, modelVersion: string): string {
  return createHash("sha256")
    .update(modelVersion)
    .update("\u0000")
    .update(template)
    .update("\u0000")
    .update(normalizedText)
    .digest("hex");
}

/** What the pipeline embeds for one entity. */
export interface EntityText {
  /** Normalised prompt text sent to the embedding server. */
  text: string;
  /** Content hash of (text, template, model version). */
  hash: string;
}

/** An entity's text as rendered from one document. */
export interface RenderedText extends EntityText {
  /**
   * Fields whose value is Debezium's placeholder for a PostgreSQL TOAST value an update left unchanged
   * (`unavailablePlaceholder`): the text holds the placeholder, not the row's value, so it must not
   * be embedded.
   */
  unavailable: string[];
}

/**
 * What Debezium's PostgreSQL connector sends (its `unavailable.value.placeholder` default) for a TOAST
 * column an update did not change when the table's REPLICA IDENTITY is not FULL: a text column's value,
 * or the one element of an array column's.
 */
export const unavailablePlaceholder = "__debezium_unavailable_value";

/** Why a text with `unavailable` fields is not embedded: the dead letter's or failed record's reason. */
export function unavailableReason(fields: readonly string[]): string {
  return `${fields.length === 1 ? "field" : "fields"} ${fields.join(", ")} ${fields.length === 1 ? "holds" : "hold"} Debezium's placeholder ${JSON.stringify(unavailablePlaceholder)} for a PostgreSQL TOAST value this update left unchanged, not the value: the entity keeps its last text and vector; set REPLICA IDENTITY FULL on the table so that updates carry every column`;
}

function holdsPlaceholder(values: readonly unknown[]): boolean {
  for (const value of flattenArrays(values)) if (value === unavailablePlaceholder) return true;
  return false;
}

/** Compiles an entity's field paths and prompt template into one function from document to text + hash. */
export function createEntityTextRenderer(options: {
  extract: Readonly<Record<string, string>>;
  template: string;
  modelVersion: string;
}): (document: unknown) => RenderedText {
  const fields = Object.entries(options.extract).map(
    ([name, path]) => [name, compileJsonPath(path)] as const,
  );
  return (document) => {
    const values: Record<string, string | undefined> = {};
    const unavailable: string[] = [];
    for (const [name, path] of fields) {
      const reached = path(document);
      if (holdsPlaceholder(reached)) unavailable.push(name);
      // Field values are normalised before rendering so that stray whitespace at a field's edge does
      // not leave a space before the template's own punctuation ("Acme ." versus "Acme.").
      values[name] = fieldText(reached, normalizeText);
    }
    const text = normalizeText(renderPromptTemplate(options.template, values, { missing: "empty" }));
    return { text, hash: contentHash(text, options.template, options.modelVersion), unavailable };
  };
}
