/**
 * Unicode character classes used by the BERT normalizer and pre-tokenizer, matching the Rust
 * `tokenizers` crate exactly. ASCII is answered from tables built once; other code points go through
 * a Unicode property regex once and are then cached, because text is overwhelmingly ASCII and a regex
 * per character would dominate tokenization time.
 */

const controlRegex = /\p{C}/u;
const whitespaceRegex = /\p{White_Space}/u;
const punctuationRegex = /\p{P}/u;
const nonspacingMarkRegex = /\p{Mn}/u;

/** Flags per code point; combined in one byte so a single lookup answers every question. */
const CONTROL = 1; // removed by clean_text (Unicode "Other" except \t \n \r, plus NUL and U+FFFD)
const WHITESPACE = 2; // Unicode White_Space, plus \t \n \r
const PUNCTUATION = 4; // ASCII punctuation or Unicode P*: isolated by the BERT pre-tokenizer
const CJK = 8; // CJK ideographs padded with spaces by handle_chinese_chars
const MARK = 16; // nonspacing marks removed after NFD when stripping accents

function computeFlags(codePoint: number): number {
  const char = String.fromCodePoint(codePoint);
  let flags = 0;
  const isTabOrNewline = codePoint === 0x09 || codePoint === 0x0a || codePoint === 0x0d;
  if (codePoint === 0 || codePoint === 0xfffd || (!isTabOrNewline && controlRegex.test(char)))
    flags |= CONTROL;
  if (isTabOrNewline || whitespaceRegex.test(char)) flags |= WHITESPACE;
  if (isAsciiPunctuation(codePoint) || punctuationRegex.test(char)) flags |= PUNCTUATION;
  if (isCjkIdeograph(codePoint)) flags |= CJK;
  if (nonspacingMarkRegex.test(char)) flags |= MARK;
  return flags;
}

/** Rust's `char::is_ascii_punctuation`: includes symbols such as `$+<=>^`|~` that are not Unicode P*. */
function isAsciiPunctuation(codePoint: number): boolean {
  return (
    (codePoint >= 0x21 && codePoint <= 0x2f) ||
    (codePoint >= 0x3a && codePoint <= 0x40) ||
    (codePoint >= 0x5b && codePoint <= 0x60) ||
    (codePoint >= 0x7b && codePoint <= 0x7e)
  );
}

/** The CJK Unified Ideograph blocks the original BERT code treats as one-character words. */
function isCjkIdeograph(codePoint: number): boolean {
  return (
    (codePoint >= 0x4e00 && codePoint <= 0x9fff) ||
    (codePoint >= 0x3400 && codePoint <= 0x4dbf) ||
    (codePoint >= 0x20000 && codePoint <= 0x2a6df) ||
    (codePoint >= 0x2a700 && codePoint <= 0x2b73f) ||
    (codePoint >= 0x2b740 && codePoint <= 0x2b81f) ||
    (codePoint >= 0x2b920 && codePoint <= 0x2ceaf) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0x2f800 && codePoint <= 0x2fa1f)
  );
}

const asciiFlags = new Uint8Array(128);
for (let codePoint = 0; codePoint < 128; codePoint++) asciiFlags[codePoint] = computeFlags(codePoint);

// Bounded so adversarial input with many distinct code points cannot grow memory without limit.
const MAX_CACHED = 65_536;
const nonAsciiFlags = new Map<number, number>();

/** Returns the class flags of a code point (see the constants above). */
export function charFlags(codePoint: number): number {
  if (codePoint < 128) return asciiFlags[codePoint] ?? 0;
  let flags = nonAsciiFlags.get(codePoint);
  if (flags === undefined) {
    flags = computeFlags(codePoint);
    if (nonAsciiFlags.size < MAX_CACHED) nonAsciiFlags.set(codePoint, flags);
  }
  return flags;
}

export const CharClass = { CONTROL, WHITESPACE, PUNCTUATION, CJK, MARK } as const;
