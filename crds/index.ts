// The JUDE API: zod schemas, TypeScript types and parsers of the three resources. Controllers import
// from here; CRD generation lives in generate.ts and is not part of the runtime API.
export * from "./bootstrap-run.ts";
export * from "./embedding-model.ts";
export * from "./embedding-model-serving.ts";
export * from "./embedding-model-status.ts";
export * from "./nearline-pipeline.ts";
export * from "./nearline-pipeline-kafka.ts";
export { type Condition, standardConditionTypes } from "./common.ts";
export {
  apiVersion,
  group,
  version,
  fromApiServer,
  safeParseWith,
  InvalidResourceError,
  type ParseOptions,
  type ParseResult,
  type ResourceIssue,
} from "./resource.ts";

import { safeParseBootstrapRun } from "./bootstrap-run.ts";
import { safeParseEmbeddingModel } from "./embedding-model.ts";
import { safeParseNearlinePipeline } from "./nearline-pipeline.ts";
import type { ParseResult } from "./resource.ts";

/** Parsers by kind, for code that handles objects of any JUDE kind (tests, admission checks, tools). */
export const safeParsersByKind: Readonly<Record<string, (value: unknown) => ParseResult<unknown>>> = {
  EmbeddingModel: safeParseEmbeddingModel,
  NearlinePipeline: safeParseNearlinePipeline,
  BootstrapRun: safeParseBootstrapRun,
};

/** Validates an object of any JUDE kind, chosen by its `kind` field. */
export function safeParseJudeObject(value: unknown): ParseResult<unknown> | undefined {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return typeof kind === "string" ? safeParsersByKind[kind]?.(value) : undefined;
}
