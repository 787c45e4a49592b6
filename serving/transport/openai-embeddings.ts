import { z } from "zod";
import { servingErrors } from "../core/errors.ts";
import { type CallContext, runEmbed } from "./call-context.ts";

/**
 * The OpenAI embeddings request. `prompt_name`, `truncate` and `normalize` are extensions (as in
 * text-embeddings-inference's OpenAI route); token-id inputs are not supported.
 */
const openAiRequestSchema = z.object({
  input: z.union([z.string(), z.array(z.string())]),
  model: z.string().optional(),
  encoding_format: z.enum(["float", "base64"]).default("float"),
  dimensions: z.number().int().optional(),
  user: z.string().optional(),
  prompt_name: z.string().optional(),
  truncate: z.boolean().default(false),
  normalize: z.boolean().optional(),
});

/** The OpenAI embeddings response. */
export interface OpenAiEmbeddingsResponse {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Handles a `POST /v1/embeddings` body. */
export async function handleOpenAiEmbeddings(
  context: CallContext,
  body: Buffer,
  signal: AbortSignal,
): Promise<OpenAiEmbeddingsResponse> {
  let document: unknown;
  try {
    document = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw servingErrors.malformedRequest(`the body is not valid JSON (${(error as Error).message})`, error);
  }
  const parsed = openAiRequestSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "body";
    throw servingErrors.malformedRequest(`${where}: ${issue?.message ?? "invalid"}`, parsed.error);
  }
  const request = parsed.data;
  const texts = typeof request.input === "string" ? [request.input] : request.input;
  const result = await runEmbed(context, {
    inputs: texts.map((text) => ({ text, promptName: request.prompt_name })),
    truncate: request.truncate,
    normalize: request.normalize,
    dimensions: request.dimensions,
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
          : Array.from(embedding.vector),
    })),
    model: result.model.name,
    usage: { prompt_tokens: result.totalTokens, total_tokens: result.totalTokens },
  };
}
