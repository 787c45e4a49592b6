// Names of the objects the operator creates. Every child name is derived here, so controllers, the
// promotion logic, the kubectl plugin and tests agree on them, and long names stay valid.
import { createHash } from "node:crypto";

/** Longest name of a Service (an RFC 1035 label) and of a label value. */
export const maxLabelLength = 63;

/**
 * Joins name parts with '-' into a valid RFC 1035 label (a Service name, usable for every other kind
 * too). A result longer than 63 characters is cut and given an 8-hex-digit hash of the full name, so
 * two long names that share a prefix never collide. A name that would start with a digit gets `j-`.
 */
export function childName(...parts: string[]): string {
  return boundedName(maxLabelLength, parts);
}

// childName with a length limit below 63, for names that get a suffix of their own.
function boundedName(maxLength: number, parts: string[]): string {
  const full = parts.join("-");
  const name = /^[a-z]/.test(full) ? full : `j-${full}`;
  if (name.length <= maxLength) return name;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 8);
  const head = name.slice(0, maxLength - hash.length - 1).replace(/-+$/, "");
  return `${head}-${hash}`;
}

/** A label value for an object name (object names may be up to 253 characters; values 63). */
export function labelValue(value: string): string {
  if (value.length <= maxLabelLength) return value;
  const hash = createHash("sha256").update(value).digest("hex").slice(0, 8);
  return `${value.slice(0, maxLabelLength - hash.length - 1).replace(/[-_.]+$/, "")}-${hash}`;
}

/** Deployment, Service, ConfigMap, PDB and HPA serving one embedding version of a model. */
export function servingName(model: string, embeddingVersion: string): string {
  return childName(model, embeddingVersion);
}

/** The model's stable query Service; it selects the active version's serving pods. */
export function queryServiceName(model: string): string {
  return childName(model);
}

/** Deployment and ConfigMap of the nearline workers of one pipeline for one embedding version. */
export function nearlineWorkerName(pipeline: string, embeddingVersion: string): string {
  return childName(pipeline, embeddingVersion, "nearline");
}

/** Kafka consumer group of one pipeline's workers for one embedding version. */
export function consumerGroup(namespace: string, pipeline: string, embeddingVersion: string): string {
  return `jude.${namespace}.${pipeline}.${embeddingVersion}`;
}

/**
 * Indexed Job and ConfigMap of a BootstrapRun with `shards` indexes. The Job's pods are named
 * `<job>-<index>`, which must be a DNS label too (the API server refuses the Job otherwise), so the
 * name leaves room for the largest index. Names that fit that way already are unchanged.
 */
export function bootstrapJobName(run: string, shards: number): string {
  const indexSuffix = `-${Math.max(shards - 1, 0)}`.length;
  return boundedName(maxLabelLength - indexSuffix, [run, "bootstrap"]);
}

/** The BootstrapRun the operator creates for a version it promotes. */
export function promotionBootstrapRunName(pipeline: string, embeddingVersion: string): string {
  // Suffixed so a run a user names <pipeline>-<version> in Git never collides with the operator's.
  return childName(pipeline, embeddingVersion, "promotion");
}
