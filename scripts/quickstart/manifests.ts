// The objects the quickstart applies: examples/quickstart/*.yaml with their `${NAME}` placeholders filled
// in, each checked against the CRD schemas before anything is sent, and the spec change that promotes
// the int8 model.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { safeParseJudeObject } from "../../crds/index.ts";

export const quickstartExamplesDir = join(import.meta.dirname, "..", "..", "examples", "quickstart");

/** The files, in the order they are applied. */
export const quickstartFiles = [
  "model-volume.yaml",
  "embedding-model.yaml",
  "nearline-pipeline-jobs.yaml",
  "nearline-pipeline-member-profiles.yaml",
  "bootstrap-runs.yaml",
] as const;

export type QuickstartFile = (typeof quickstartFiles)[number];

/** Values of the placeholders. */
export interface ManifestValues {
  NAMESPACE: string;
  MODEL_DIR: string;
  MODEL_SHA256: string;
  KAFKA_BOOTSTRAP: string;
  JOBS_TOPIC: string;
  MEMBERS_TOPIC: string;
  STORE_NAME: string;
}

/** Replaces every `${NAME}`; a placeholder without a value is an error, never left in. */
export function fillPlaceholders(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Z0-9_]+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for placeholder \${${name}}`);
    return value;
  });
}

/** The objects of one file, filled in; the JUDE ones validated against their schemas. */
export function quickstartObjects(
  file: QuickstartFile,
  values: ManifestValues,
  readText: (path: string) => string = (path) => readFileSync(path, "utf8"),
): Array<Record<string, unknown>> {
  const text = fillPlaceholders(readText(join(quickstartExamplesDir, file)), { ...values });
  return parseAllDocuments(text).map((document) => {
    const object = document.toJS() as Record<string, unknown>;
    if (!String(object.apiVersion).startsWith("jude.dev/")) return object;
    const result = safeParseJudeObject(object);
    if (result === undefined || !result.success)
      throw new Error(`${file}: not a valid JUDE object: ${result?.error.message ?? "unknown kind"}`);
    return object;
  });
}

/** The version the quickstart promotes, and the spec change (merge patch) that promotes it. */
export const promotedVersion = "minilm-v2";

/** The spec fields a Git commit changes to promote the int8 model. */
export interface PromotionPatch {
  spec: { version: string; model: { uri: string; sha256: string; precision: "int8" } };
}

export function promotionPatch(int8Sha256: string): PromotionPatch {
  return {
    spec: {
      version: promotedVersion,
      model: { uri: "pvc://quickstart-model/model.int8.onnx", sha256: int8Sha256, precision: "int8" },
    },
  };
}
