/** BERT pre-tokenization: splits normalised text on whitespace and punctuation. */
import { CharClass, charFlags } from "./char-classes.ts";

/**
 * The BERT pre-tokenizer: splits on whitespace (dropped) and isolates every punctuation character as a
 * word of its own. Words are handed to `onWord` as they are found so the caller can stop early (for
 * example once the token budget of a truncated input is spent) by returning `false`.
 */
export function forEachBertWord(text: string, onWord: (word: string) => boolean | void): void {
  let wordStart = -1;
  let index = 0;
  while (index < text.length) {
    const codeUnit = text.charCodeAt(index);
    const isHighSurrogate = codeUnit >= 0xd800 && codeUnit <= 0xdbff;
    const codePoint = isHighSurrogate ? (text.codePointAt(index) ?? codeUnit) : codeUnit;
    const width = codePoint > 0xffff ? 2 : 1;
    const flags = charFlags(codePoint);
    if (flags & (CharClass.WHITESPACE | CharClass.PUNCTUATION)) {
      if (wordStart >= 0) {
        if (onWord(text.slice(wordStart, index)) === false) return;
        wordStart = -1;
      }
      if (flags & CharClass.PUNCTUATION && !(flags & CharClass.WHITESPACE)) {
        if (onWord(text.slice(index, index + width)) === false) return;
      }
    } else if (wordStart < 0) {
      wordStart = index;
    }
    index += width;
  }
  if (wordStart >= 0) onWord(text.slice(wordStart));
}
