// A stand-in for the embedding server that the entity batch writer's unit tests share.
import type { EntityText } from "../shared/entity-text.ts";
import type { TextVectorsResult } from "./text-vectors.ts";

/** A `vectorsFor` that embeds every text it is given, each as the vector [1], in one inference call. */
export const vectorOfOneForEach = async (texts: readonly EntityText[]): Promise<TextVectorsResult> => ({
  vectors: texts.map(() => Float32Array.of(1)),
  refused: new Map(),
  failed: new Map(),
  embedded: texts.length,
  inference: { calls: 1, texts: texts.length },
});
