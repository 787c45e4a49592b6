/** The WordPiece tokenizer: text to ids with special tokens, truncation and overflow reporting. */
import { readFile } from "node:fs/promises";
import { createBertNormalizer } from "./normalizer.ts";
import { forEachBertWord } from "./pre-tokenizer.ts";
import { specialTokenFrame, tokenizerJsonSchema, type TokenizerJson } from "./tokenizer-json.ts";
import { WordPiece } from "./wordpiece.ts";

/** How an input longer than the model's limit is handled. */
export interface EncodeOptions {
  /** The model's maximum sequence length, special tokens included. */
  maxLength: number;
  /** Cut the input to `maxLength` (true) or report `overflow` (false). */
  truncate: boolean;
  /** Which end is kept when truncating: "right" keeps the start of the text (the default). */
  direction?: "right" | "left";
}

/** The token ids of one input, ready for the model. */
export interface Encoding {
  /** Ids including the special tokens; empty when `overflow` is true. */
  ids: Int32Array;
  /** True when the input was cut to fit. */
  truncated: boolean;
  /** True when the input did not fit and truncation was not allowed. */
  overflow: boolean;
}

/**
 * A Hugging Face compatible WordPiece tokenizer built from tokenizer.json, producing the same ids as
 * the upstream Rust implementation for BERT-style models. Pure TypeScript: no native add-on to build
 * for the CUDA image, and fast enough that tokenization is a small fraction of inference time.
 */
export class Tokenizer {
  readonly #normalize: (text: string) => string;
  readonly #wordPiece: WordPiece;
  readonly #prefix: number[];
  readonly #suffix: number[];
  readonly #addedTokens: Map<string, number>;
  readonly #addedTokenPattern: RegExp | undefined;

  constructor(json: TokenizerJson) {
    const { normalizer, model } = json;
    this.#normalize = createBertNormalizer({
      cleanText: normalizer.clean_text,
      handleChineseChars: normalizer.handle_chinese_chars,
      stripAccents: normalizer.strip_accents,
      lowercase: normalizer.lowercase,
    });
    const vocab = new Map(Object.entries(model.vocab));
    const unkId = vocab.get(model.unk_token);
    if (unkId === undefined)
      throw new Error(`tokenizer.json: unk_token ${model.unk_token} is not in the vocabulary`);
    this.#wordPiece = new WordPiece({
      vocab,
      unkId,
      continuingSubwordPrefix: model.continuing_subword_prefix,
      maxInputCharsPerWord: model.max_input_chars_per_word,
    });
    ({ prefix: this.#prefix, suffix: this.#suffix } = specialTokenFrame(json.post_processor));
    // Special added tokens are matched in the raw text before normalization, as upstream does, so a
    // literal "[SEP]" in an input encodes exactly as sentence-transformers would encode it.
    this.#addedTokens = new Map(
      json.added_tokens.filter((token) => token.special).map((t) => [t.content, t.id]),
    );
    const escaped = [...this.#addedTokens.keys()]
      .sort((a, b) => b.length - a.length)
      .map((content) => content.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.#addedTokenPattern = escaped.length > 0 ? new RegExp(escaped.join("|"), "g") : undefined;
  }

  /** The number of special tokens added around every input. */
  get specialTokenCount(): number {
    return this.#prefix.length + this.#suffix.length;
  }

  /** Encodes one text; stops early once an input is known to be too long for right truncation. */
  encode(text: string, options: EncodeOptions): Encoding {
    const budget = Math.max(0, options.maxLength - this.specialTokenCount);
    const keepStart = options.direction !== "left";
    // For right truncation (and for the overflow check) one token past the budget is enough to know.
    const stopAfter = keepStart || !options.truncate ? budget + 1 : Number.POSITIVE_INFINITY;
    const content: number[] = [];
    for (const segment of this.#segments(text)) {
      if (typeof segment === "number") content.push(segment);
      else this.#encodeText(segment, content, stopAfter);
      if (content.length >= stopAfter) break;
    }
    const overflow = content.length > budget;
    if (overflow && !options.truncate) return { ids: new Int32Array(0), truncated: false, overflow: true };
    const kept = !overflow
      ? content
      : keepStart
        ? content.slice(0, budget)
        : content.slice(content.length - budget);
    const ids = new Int32Array(kept.length + this.specialTokenCount);
    ids.set(this.#prefix, 0);
    ids.set(kept, this.#prefix.length);
    ids.set(this.#suffix, this.#prefix.length + kept.length);
    return { ids, truncated: overflow, overflow: false };
  }

  #encodeText(text: string, out: number[], stopAfter: number): void {
    const normalized = this.#normalize(text);
    forEachBertWord(normalized, (word) => {
      this.#wordPiece.encodeWord(word, out);
      return out.length < stopAfter;
    });
  }

  /** Splits raw text around special added tokens; yields text pieces and token ids in order. */
  *#segments(text: string): Generator<string | number> {
    const pattern = this.#addedTokenPattern;
    if (pattern === undefined) {
      yield text;
      return;
    }
    pattern.lastIndex = 0;
    let last = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      if (match.index > last) yield text.slice(last, match.index);
      const id = this.#addedTokens.get(match[0]);
      if (id !== undefined) yield id;
      last = match.index + match[0].length;
    }
    if (last < text.length) yield text.slice(last);
  }
}

/** Parses a tokenizer.json document; throws with the unsupported component named. */
export function parseTokenizerJson(document: unknown): Tokenizer {
  const parsed = tokenizerJsonSchema.safeParse(document);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new Error(`unsupported tokenizer.json (only BERT WordPiece tokenizers are implemented): ${issues}`);
  }
  return new Tokenizer(parsed.data);
}

/** Loads a tokenizer.json file. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  return parseTokenizerJson(JSON.parse(await readFile(path, "utf8")));
}
