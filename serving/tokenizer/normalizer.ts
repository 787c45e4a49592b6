/** BERT text normalisation for the tokenizer (lower-casing, accents, control characters, CJK spacing). */
import { CharClass, charFlags } from "./char-classes.ts";

/** The options of a `BertNormalizer` in tokenizer.json. */
export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  /** `null` in tokenizer.json means "follow lowercase", as in the Rust implementation. */
  stripAccents: boolean | null;
  lowercase: boolean;
}

// Matching control characters is the point of these two patterns.
// eslint-disable-next-line no-control-regex
const nonAscii = /[^\x00-\x7f]/;
// eslint-disable-next-line no-control-regex
const asciiControl = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
const asciiWhitespace = /[\t\n\r]/g;
const nonspacingMarks = /\p{Mn}/gu;

/**
 * Builds the BERT normalizer: clean text (drop control characters, map whitespace to a space), pad CJK
 * ideographs with spaces, strip accents (NFD, drop nonspacing marks), lowercase — in that order, as the
 * Rust `tokenizers` crate does, so ids match the upstream tokenizer exactly.
 */
export function createBertNormalizer(options: BertNormalizerOptions): (text: string) => string {
  const stripAccents = options.stripAccents ?? options.lowercase;
  return (text) => {
    // Fast path: plain ASCII needs no per-character work beyond two native string operations.
    if (!nonAscii.test(text)) {
      let normalized = text;
      if (options.cleanText) normalized = normalized.replace(asciiControl, "").replace(asciiWhitespace, " ");
      return options.lowercase ? normalized.toLowerCase() : normalized;
    }
    let normalized = cleanAndPad(text, options.cleanText, options.handleChineseChars);
    if (stripAccents) normalized = normalized.normalize("NFD").replace(nonspacingMarks, "");
    return options.lowercase ? lowercasePerChar(normalized) : normalized;
  };
}

function cleanAndPad(text: string, cleanText: boolean, padCjk: boolean): string {
  const parts: string[] = [];
  let runStart = 0;
  let index = 0;
  // Copy unchanged runs as slices; only characters that change are emitted one by one.
  while (index < text.length) {
    const codePoint = text.codePointAt(index) ?? 0;
    const width = codePoint > 0xffff ? 2 : 1;
    const flags = charFlags(codePoint);
    let replacement: string | undefined;
    if (cleanText && flags & CharClass.CONTROL) replacement = "";
    else if (cleanText && flags & CharClass.WHITESPACE && codePoint !== 0x20) replacement = " ";
    else if (padCjk && flags & CharClass.CJK) replacement = ` ${String.fromCodePoint(codePoint)} `;
    if (replacement !== undefined) {
      parts.push(text.slice(runStart, index), replacement);
      runStart = index + width;
    }
    index += width;
  }
  parts.push(text.slice(runStart));
  return parts.join("");
}

/**
 * Lowercases character by character, as Rust's `char::to_lowercase` does: JavaScript's
 * `String#toLowerCase` applies the context-sensitive final-sigma rule, which upstream does not, so a
 * text holding a capital sigma takes the slower per-character path.
 */
function lowercasePerChar(text: string): string {
  if (!text.includes("\u03a3")) return text.toLowerCase();
  let lowered = "";
  for (const char of text) lowered += char.toLowerCase();
  return lowered;
}
