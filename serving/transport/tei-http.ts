/** text-embeddings-inference's HTTP API: `POST /embed`, `GET /info`, `GET /health`. */
import { z } from "zod";
import { servingErrors } from "../core/errors.ts";
import { type CallContext, runEmbed } from "./call-context.ts";
import type { HealthState } from "./health-service.ts";
import { parseRequest, wholeNumberRefusal } from "./http-body.ts";
import { toTeiHttpError, type HttpErrorAnswer, type TeiErrorBody } from "./status-mapping.ts";
import { teiInfoJson } from "./tei-info.ts";
import { teiHeaders, teiMetadata } from "./tei-metadata.ts";

const tokenIds = z.array(z.number().int());

/** TEI's EmbedRequest (its HTTP API description); token-id inputs are refused with a clear message. */
const teiEmbedSchema = z.object({
  inputs: z.union([z.string(), z.array(z.union([z.string(), tokenIds])), tokenIds], {
    error: (issue) =>
      issue.input === undefined || issue.input === null
        ? "inputs is required: a string or a list of strings"
        : "inputs must be a string or a list of strings",
  }),
  normalize: z.boolean().nullish(),
  truncate: z.boolean().nullish(),
  // TEI's enum is "Left" | "Right"; lower case is accepted too.
  truncation_direction: z
    .enum(["Left", "Right", "left", "right"])
    .nullish()
    .transform((direction) => (direction?.toLowerCase() === "left" ? "left" : "right")),
  prompt_name: z.string().nullish(),
  // A negative is refused by the embedder, which names the model's range, as for 0.
  dimensions: z.number().int({ error: wholeNumberRefusal }).nullish(),
});

/** What a TEI route answers: a JSON body and TEI's headers. */
export interface TeiAnswer {
  body: unknown;
  headers: Record<string, string>;
}

function textsOf(inputs: z.infer<typeof teiEmbedSchema>["inputs"]): string[] {
  const list = typeof inputs === "string" ? [inputs] : inputs;
  // A flat list of numbers is one tokenized input, as in TEI.
  if (list.some((input) => typeof input !== "string")) {
    throw servingErrors.malformedRequest("inputs: token-id inputs are not supported; send text");
  }
  return list as string[];
}

/** `POST /embed`: one vector per input, `[[...], ...]`, with TEI's x-* headers. */
export async function handleTeiEmbed(
  context: CallContext,
  document: unknown,
  signal: AbortSignal,
): Promise<TeiAnswer> {
  const request = parseRequest(teiEmbedSchema, document);
  const texts = textsOf(request.inputs);
  const result = await runEmbed(context, {
    inputs: texts.map((text) => ({ text, promptName: request.prompt_name ?? undefined })),
    truncate: request.truncate ?? false,
    truncationDirection: request.truncation_direction,
    // TEI normalises unless told not to.
    normalize: request.normalize ?? true,
    dimensions: request.dimensions ?? undefined,
    signal,
  });
  return {
    body: result.embeddings.map((embedding) => embedding.vector), // number arrays in the JSON
    headers: teiHeaders(teiMetadata(texts, result), context.info.executionProvider()),
  };
}

/** `GET /info`: the served model and limits, in TEI's JSON. */
export function handleTeiInfo(context: CallContext): TeiAnswer {
  return { body: teiInfoJson(context), headers: {} };
}

/** `GET /health`: 200 with no body while serving, else 503 with TEI's "unhealthy" error. */
export function teiHealth(
  context: CallContext,
  health: HealthState,
): HttpErrorAnswer<TeiErrorBody> | undefined {
  if (health.get("") === "SERVING") return undefined;
  const reason = context.embedder.state === "draining" ? servingErrors.draining() : servingErrors.notReady();
  const answer = toTeiHttpError(reason);
  return { ...answer, body: { error: "unhealthy", error_type: answer.body.error_type } };
}
