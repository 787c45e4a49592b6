/** Reads a Hugging Face tokenizer.json into the settings the WordPiece tokenizer needs. */
import { z } from "zod";

/**
 * The subset of Hugging Face's tokenizer.json that this tokenizer implements: BERT-style WordPiece
 * models (BERT, MiniLM, BGE, E5, GTE and most sentence-transformers checkpoints). Anything else is
 * rejected at load time with a message naming the unsupported component, never mis-tokenized.
 */
const bertNormalizer = z.object({
  type: z.literal("BertNormalizer"),
  clean_text: z.boolean().default(true),
  handle_chinese_chars: z.boolean().default(true),
  strip_accents: z.boolean().nullable().default(null),
  lowercase: z.boolean().default(true),
});

const addedToken = z.object({
  id: z.number().int().nonnegative(),
  content: z.string().min(1),
  special: z.boolean().default(false),
});

const specialTokenPiece = z.object({ SpecialToken: z.object({ id: z.string() }) });
const sequencePiece = z.object({ Sequence: z.object({ id: z.string() }) });

const templateProcessing = z.object({
  type: z.literal("TemplateProcessing"),
  single: z.array(z.union([specialTokenPiece, sequencePiece])),
  special_tokens: z.record(z.string(), z.object({ ids: z.array(z.number().int()) })),
});

const bertProcessing = z.object({
  type: z.literal("BertProcessing"),
  sep: z.tuple([z.string(), z.number().int()]),
  cls: z.tuple([z.string(), z.number().int()]),
});

export const tokenizerJsonSchema = z.object({
  added_tokens: z.array(addedToken).default([]),
  normalizer: bertNormalizer,
  pre_tokenizer: z.object({ type: z.literal("BertPreTokenizer") }),
  post_processor: z.discriminatedUnion("type", [templateProcessing, bertProcessing]),
  model: z.object({
    type: z.literal("WordPiece"),
    unk_token: z.string(),
    continuing_subword_prefix: z.string().default("##"),
    max_input_chars_per_word: z.number().int().positive().default(100),
    vocab: z.record(z.string(), z.number().int().nonnegative()),
  }),
});

/** The parsed, validated tokenizer.json subset. */
export type TokenizerJson = z.infer<typeof tokenizerJsonSchema>;

/** Ids wrapped around every single sequence by the post-processor, e.g. [CLS] … [SEP]. */
export function specialTokenFrame(postProcessor: TokenizerJson["post_processor"]): {
  prefix: number[];
  suffix: number[];
} {
  if (postProcessor.type === "BertProcessing") {
    return { prefix: [postProcessor.cls[1]], suffix: [postProcessor.sep[1]] };
  }
  const prefix: number[] = [];
  const suffix: number[] = [];
  let seenSequence = false;
  for (const piece of postProcessor.single) {
    if ("Sequence" in piece) {
      seenSequence = true;
      continue;
    }
    const ids = postProcessor.special_tokens[piece.SpecialToken.id]?.ids;
    if (ids === undefined)
      throw new Error(`post_processor names unknown special token ${piece.SpecialToken.id}`);
    (seenSequence ? suffix : prefix).push(...ids);
  }
  return { prefix, suffix };
}
