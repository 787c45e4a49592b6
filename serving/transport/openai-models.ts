/** Which model names an OpenAI-style request may ask for, and `GET /v1/models`. */
import { servingErrors } from "../core/errors.ts";
import type { ModelIdentity } from "../core/types.ts";

/**
 * The names this server answers for: the model's name, its embedding version, and
 * `<name>:<version>`. Anything else is refused with 404 `model_not_found`, so a client that asks for
 * version B never silently receives version A's vectors.
 */
export function servedModelNames(model: Pick<ModelIdentity, "name" | "version">): string[] {
  return [...new Set([model.name, model.version, `${model.name}:${model.version}`])];
}

/** Throws MODEL_NOT_FOUND unless `requested` is absent or one of the served names. */
export function assertServedModel(
  model: Pick<ModelIdentity, "name" | "version">,
  requested: string | undefined,
): void {
  if (requested === undefined) return;
  const names = servedModelNames(model);
  if (!names.includes(requested)) throw servingErrors.modelNotFound(requested, names);
}

/** An OpenAI model object. */
export interface OpenAiModel {
  id: string;
  object: "model";
  /** Unix seconds: when this server started serving it. */
  created: number;
  owned_by: string;
}

/** The model object for `GET /v1/models` and `GET /v1/models/{id}`. */
export function openAiModel(model: Pick<ModelIdentity, "name">, createdAtMs: number): OpenAiModel {
  return { id: model.name, object: "model", created: Math.floor(createdAtMs / 1000), owned_by: "jude" };
}
