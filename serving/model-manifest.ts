/** Reads jude-model.json and resolves the model identity, files and defaults a server loads. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { ModelIdentity } from "./core/types.ts";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase sha256 hex digest");

/**
 * `jude-model.json`, the manifest inside a model directory: what the model is and which file holds
 * each precision. The serving config can override every model setting (the operator renders those from
 * the EmbeddingModel resource); the manifest supplies the defaults.
 */
export const modelManifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1).optional(),
  dimensions: z.number().int().positive(),
  pooling: z.enum(["mean", "cls", "last-token"]).default("mean"),
  normalize: z.boolean().default(true),
  maxSequenceLength: z.number().int().positive(),
  files: z.object({
    fp32: z.string().min(1).optional(),
    fp16: z.string().min(1).optional(),
    int8: z.string().min(1).optional(),
    tokenizer: z.string().min(1).default("tokenizer.json"),
  }),
  sha256: z.record(z.string(), sha256Hex).default({}),
});

/** A parsed `jude-model.json`. */
export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** Settings that override the manifest (from the serving config). */
export interface ModelOverrides {
  name?: string | undefined;
  version?: string | undefined;
  digest?: string | undefined;
  precision: ModelIdentity["precision"];
  pooling?: ModelIdentity["pooling"] | undefined;
  normalize?: boolean | undefined;
  maxSequenceLength?: number | undefined;
  dimensions?: number | undefined;
}

/** A model ready to load: identity plus file paths. */
export interface ResolvedModel {
  identity: ModelIdentity;
  modelPath: string;
  tokenizerPath: string;
}

/** Reads and validates `<modelDir>/jude-model.json`. */
export async function readModelManifest(modelDir: string): Promise<ModelManifest> {
  const path = join(modelDir, "jude-model.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the model manifest ${path}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = modelManifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`invalid model manifest ${path}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Combines manifest and overrides. The digest is, in order: the configured one (the operator passes
 * the artifact digest it verified), the manifest's sha256 of the chosen file, or computed here.
 */
export async function resolveModel(
  modelDir: string,
  manifest: ModelManifest,
  overrides: ModelOverrides,
): Promise<ResolvedModel> {
  const file = manifest.files[overrides.precision];
  if (file === undefined) {
    const available = (["fp32", "fp16", "int8"] as const).filter((precision) => manifest.files[precision]);
    throw new Error(
      `the model directory has no ${overrides.precision} model; jude-model.json lists ${available.join(", ") || "none"}`,
    );
  }
  const modelPath = join(modelDir, file);
  const knownSha = manifest.sha256[file];
  const digest = overrides.digest ?? `sha256:${knownSha ?? (await sha256File(modelPath))}`;
  return {
    modelPath,
    tokenizerPath: join(modelDir, manifest.files.tokenizer),
    identity: {
      name: overrides.name ?? manifest.name,
      version: overrides.version ?? manifest.version ?? manifest.name,
      digest,
      precision: overrides.precision,
      dimensions: overrides.dimensions ?? manifest.dimensions,
      maxSequenceLength: overrides.maxSequenceLength ?? manifest.maxSequenceLength,
      pooling: overrides.pooling ?? manifest.pooling,
      normalize: overrides.normalize ?? manifest.normalize,
    },
  };
}

/** The sha256 hex digest of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
