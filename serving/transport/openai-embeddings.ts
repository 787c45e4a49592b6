/** OpenAI's `POST /v1/embeddings` on the JUDE core, with the input count OpenAI clients send. */
import { z } from "zod";
import { isServingError, servingErrors, ServingError } from "../core/errors.ts";
import type { EmbedCall, EmbedResult } from "../core/types.ts";
import { type CallContext, runEmbed } from "./call-context.ts";
import { parseRequest, wholeNumberRefusal } from "./http-body.ts";
import { assertServedModel } from "./openai-models.ts";

/**
 * Inputs one OpenAI call may carry: OpenAI's own limit, and what client libraries (the `openai`
 * package, LangChain, LlamaIndex) send per call by default.
 */
export const OPENAI_MAX_INPUTS = 2048;

/**
 * The OpenAI embeddings request. `prompt_name`, `truncate` and `normalize` are extensions (as in
 * text-embeddings-inference's OpenAI route). Token-id inputs are refused: the ids OpenAI clients
 * send are tiktoken's, not this model's tokenizer's, so embedding them would give wrong vectors.
 * Optional fields may be null, meaning not given, as OpenAI takes them: LiteLLM sends
 * `"encoding_format": null` whenever its caller did not choose one.
 */
const openAiRequestSchema = z.object({
  input: z.union([z.string(), z.array(z.string())], { error: (issue) => inputRefusal(issue.input) }),
  model: z.string().nullish(),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int({ error: wholeNumberRefusal }).nullish(),
  user: z.string().nullish(),
  prompt_name: z.string().nullish(),
  truncate: z.boolean().nullish(),
  normalize: z.boolean().nullish(),
});

/** OpenAI's token-id inputs: a list of integers, or a list of such lists. */
function isTokenIds(input: unknown): boolean {
  const ids = (value: unknown) => Array.isArray(value) && value.length > 0 && value.every(Number.isInteger);
  return ids(input) || (Array.isArray(input) && input.length > 0 && input.every(ids));
}

/** What a JSON value is, for a message: "a number", "null", "an object", … */
function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Why `input` was refused: missing, token ids, a list item that is not a string, or its type. */
function inputRefusal(input: unknown): string {
  const expected = "input must be a string or a list of strings";
  if (input === undefined || input === null) return "input is required: a string or a list of strings";
  if (isTokenIds(input))
    return (
      `${expected}; token ids are not accepted (they would be another tokenizer's: LangChain's ` +
      "OpenAIEmbeddings sends them unless check_embedding_ctx_length=False)"
    );
  if (Array.isArray(input)) {
    const index = input.findIndex((item) => typeof item !== "string");
    if (index >= 0) return `input[${index}] is ${describeJson(input[index])}: ${expected}`;
  }
  return `input is ${describeJson(input)}: ${expected}`;
}

/** The OpenAI embeddings response. */
export interface OpenAiEmbeddingsResponse {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: Float32Array | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Handles a `POST /v1/embeddings` document. */
export async function handleOpenAiEmbeddings(
  context: CallContext,
  document: unknown,
  signal: AbortSignal,
): Promise<OpenAiEmbeddingsResponse> {
  const request = parseRequest(openAiRequestSchema, document);
  assertServedModel(context.embedder.model, request.model ?? undefined);
  const texts = typeof request.input === "string" ? [request.input] : request.input;
  if (texts.length > OPENAI_MAX_INPUTS) throw servingErrors.tooManyInputs(texts.length, OPENAI_MAX_INPUTS);
  const result = await embedInChunks(context, {
    inputs: texts.map((text) => ({ text, promptName: request.prompt_name ?? undefined })),
    truncate: request.truncate ?? false,
    normalize: request.normalize ?? undefined,
    dimensions: request.dimensions ?? undefined,
    signal,
  });
  return {
    object: "list",
    data: result.embeddings.map((embedding, index) => ({
      object: "embedding",
      index,
      embedding:
        request.encoding_format === "base64"
          ? Buffer.from(
              embedding.vector.buffer,
              embedding.vector.byteOffset,
              embedding.vector.byteLength,
            ).toString("base64")
          : embedding.vector, // written as a JSON number array by sendJson
    })),
    model: result.model.name,
    usage: { prompt_tokens: result.totalTokens, total_tokens: result.totalTokens },
  };
}

/**
 * Embeds a call of any size as consecutive calls of at most `maxInputsPerCall` inputs: the batcher
 * packs them under the token budget as usual, and the call never holds more permits than one
 * ordinary call, so the permit limit still bounds memory and a big call cannot starve others.
 */
export async function embedInChunks(context: CallContext, call: EmbedCall): Promise<EmbedResult> {
  const chunkSize = context.embedder.limits.maxInputsPerCall;
  if (call.inputs.length <= chunkSize) return runEmbed(context, call);
  context.embedder.checkInputs(call.inputs);
  const parts: EmbedResult[] = [];
  for (let offset = 0; offset < call.inputs.length; offset += chunkSize) {
    const inputs = call.inputs.slice(offset, offset + chunkSize);
    try {
      parts.push(await runEmbed(context, { ...call, inputs }));
    } catch (error) {
      throw reindexed(error, offset);
    }
  }
  const first = parts[0]!;
  return {
    model: first.model,
    embeddings: parts.flatMap((part) => part.embeddings),
    totalTokens: parts.reduce((sum, part) => sum + part.totalTokens, 0),
    timings: {
      tokenizationNs: parts.reduce((sum, part) => sum + part.timings.tokenizationNs, 0),
      queueNs: Math.max(...parts.map((part) => part.timings.queueNs)),
      inferenceNs: parts.reduce((sum, part) => sum + part.timings.inferenceNs, 0),
      totalNs: parts.reduce((sum, part) => sum + part.timings.totalNs, 0),
    },
  };
}

/** An error about "input N" of a chunk, renumbered to the input's place in the whole call. */
function reindexed(error: unknown, offset: number): unknown {
  if (offset === 0 || !isServingError(error)) return error;
  const message = error.message.replace(
    /^input (\d+)/,
    (_match, index: string) => `input ${Number(index) + offset}`,
  );
  return message === error.message ? error : new ServingError(error.code, message, { cause: error.cause });
}
