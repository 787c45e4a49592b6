import { describe, expect, it } from "vitest";
import { ids, tinyTokenizer, tinyTokenizerJson } from "../../test/support/serving/tiny-tokenizer.ts";
import { parseTokenizerJson } from "./tokenizer.ts";

const tokenizer = tinyTokenizer();
const encode = (text: string, maxLength = 64, truncate = true, direction?: "left" | "right") =>
  tokenizer.encode(text, { maxLength, truncate, direction });
const idsOf = (text: string) => Array.from(encode(text).ids);

describe("Tokenizer (BERT WordPiece, as the Rust tokenizers crate)", () => {
  it("wraps the text in [CLS] … [SEP] and lowercases", () => {
    expect(idsOf("Hello WORLD")).toEqual(ids("[CLS]", "hello", "world", "[SEP]"));
  });

  it("splits words into the longest vocabulary pieces with the ## prefix", () => {
    expect(idsOf("unaffable")).toEqual(ids("[CLS]", "un", "##aff", "##able", "[SEP]"));
  });

  it("makes a word that cannot be covered a single [UNK]", () => {
    expect(idsOf("unaffablex hello")).toEqual(ids("[CLS]", "[UNK]", "hello", "[SEP]"));
  });

  it("makes a word longer than max_input_chars_per_word a single [UNK]", () => {
    expect(idsOf("unaffableunaffable")).toEqual(ids("[CLS]", "[UNK]", "[SEP]"));
  });

  it("isolates punctuation, including ASCII symbols that are not Unicode punctuation", () => {
    expect(idsOf("hello,world!$")).toEqual(ids("[CLS]", "hello", ",", "world", "!", "$", "[SEP]"));
  });

  it("strips accents (NFD) because lowercase is on and strip_accents is null", () => {
    expect(idsOf("CAFÉ café")).toEqual(ids("[CLS]", "cafe", "cafe", "[SEP]"));
  });

  it("pads CJK ideographs into words of their own", () => {
    expect(idsOf("hello中文world")).toEqual(ids("[CLS]", "hello", "中", "文", "world", "[SEP]"));
  });

  it("drops control and format characters and treats Unicode spaces as whitespace", () => {
    expect(idsOf("hel\u200blo\u0000\u00a0world\u2003")).toEqual(ids("[CLS]", "hello", "world", "[SEP]"));
  });

  it("lowercases a final capital sigma to σ, per character as upstream does", () => {
    expect(idsOf("Σ")).toEqual(ids("[CLS]", "σ", "[SEP]"));
  });

  it("turns an emoji (not in the vocabulary) into [UNK]", () => {
    expect(idsOf("hello 😀")).toEqual(ids("[CLS]", "hello", "[UNK]", "[SEP]"));
  });

  it("encodes special tokens written in the raw text as those tokens", () => {
    expect(idsOf("hello [SEP] world")).toEqual(ids("[CLS]", "hello", "[SEP]", "world", "[SEP]"));
  });

  it("encodes whitespace-only text as just the special tokens", () => {
    expect(idsOf(" \t\n")).toEqual(ids("[CLS]", "[SEP]"));
  });

  it("truncates on the right to the maximum length, special tokens included", () => {
    const encoding = encode("hello world hello world", 4);
    expect(Array.from(encoding.ids)).toEqual(ids("[CLS]", "hello", "world", "[SEP]"));
    expect(encoding.truncated).toBe(true);
  });

  it("truncates on the left when asked, keeping the end of the text", () => {
    expect(Array.from(encode("cafe hello world", 4, true, "left").ids)).toEqual(
      ids("[CLS]", "hello", "world", "[SEP]"),
    );
  });

  it("reports overflow instead of truncating when truncation is off", () => {
    expect(encode("hello world hello", 4, false)).toMatchObject({ overflow: true, truncated: false });
    expect(encode("hello world", 4, false)).toMatchObject({ overflow: false, truncated: false });
  });

  it("rejects tokenizer.json files it does not implement, naming the component", () => {
    const json = { ...tinyTokenizerJson(), model: { type: "BPE", vocab: {}, merges: [] } };
    expect(() => parseTokenizerJson(json)).toThrow(/only BERT WordPiece tokenizers.*model/);
  });
});
