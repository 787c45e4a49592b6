/** A tiny WordPiece tokenizer for unit tests of the server core, with ids that are easy to read. */
import { parseTokenizerJson, type Tokenizer } from "../../../serving/tokenizer/tokenizer.ts";

/** The vocabulary of the tiny test tokenizer; ids are positions. */
export const TINY_VOCAB = [
  "[PAD]",
  "[UNK]",
  "[CLS]",
  "[SEP]",
  "hello",
  "world",
  "un",
  "##aff",
  "##able",
  "cafe",
  ",",
  "!",
  "$",
  "中",
  "文",
  "σ",
  "query",
  ":",
  "job",
  "at",
  "acme",
  "engineer",
] as const;

/** A BERT-style tokenizer.json with a 22-word vocabulary, for unit tests that need no model. */
export function tinyTokenizerJson(): Record<string, unknown> {
  return {
    added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map((content) => ({
      id: TINY_VOCAB.indexOf(content as (typeof TINY_VOCAB)[number]),
      content,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "[CLS]" } },
        { Sequence: { id: "A" } },
        { SpecialToken: { id: "[SEP]" } },
      ],
      special_tokens: { "[CLS]": { ids: [2] }, "[SEP]": { ids: [3] } },
    },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 10,
      vocab: Object.fromEntries(TINY_VOCAB.map((token, id) => [token, id])),
    },
  };
}

/** The tiny tokenizer itself. */
export function tinyTokenizer(): Tokenizer {
  return parseTokenizerJson(tinyTokenizerJson());
}

/** Ids of tokens of the tiny vocabulary, for readable expectations. */
export function ids(...tokens: Array<(typeof TINY_VOCAB)[number]>): number[] {
  return tokens.map((token) => TINY_VOCAB.indexOf(token));
}
