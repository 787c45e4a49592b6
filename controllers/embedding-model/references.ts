// What a version's pods need that the operator does not create: the Secrets (TLS, bearer token, the
// model's download URL) and the PersistentVolumeClaims (pvc:// model URIs) the spec names, and the
// spec combinations the pods cannot honour. Pure; the reconciler checks the references exist and reports what is missing.
import type { EmbeddingModel } from "../../crds/index.ts";
import { modelSources } from "./model-source.ts";
import { servingTlsFiles } from "./serving-config.ts";

/** An object the spec refers to, with the field that names it (for messages). */
export interface Reference {
  kind: "Secret" | "PersistentVolumeClaim";
  name: string;
  /** The Secret keys the pods read from it. */
  keys?: readonly string[];
  field: string;
  /**
   * A Secret key that holds a URL which must name the same artifact (scheme, host, path) as `uri`:
   * the signed download URL of spec.model.uriSecretRef against spec.model.uri.
   */
  urlOf?: { key: string; uri: string; uriField: string };
}

/** Every Secret and claim the serving pods of this spec mount. */
export function referencedObjects(model: EmbeddingModel): Reference[] {
  const { serving } = model.spec;
  const references: Reference[] = [];
  // The whole Secret is mounted and jude serve reads these two files from it (serving-config.ts): an
  // Opaque Secret with other key names mounts fine and the server then fails at start, pod after pod.
  if (serving.tls !== undefined)
    references.push({
      kind: "Secret",
      name: serving.tls.secretName,
      keys: servingTlsFiles,
      field: "spec.serving.tls.secretName",
    });
  if (serving.auth !== undefined) {
    const { name, key } = serving.auth.tokenSecretRef;
    references.push({ kind: "Secret", name, keys: [key], field: "spec.serving.auth.tokenSecretRef" });
  }
  if (model.spec.model.uriSecretRef !== undefined) {
    const { name, key } = model.spec.model.uriSecretRef;
    references.push({
      kind: "Secret",
      name,
      keys: [key],
      field: "spec.model.uriSecretRef",
      urlOf: { key, uri: model.spec.model.uri, uriField: "spec.model.uri" },
    });
  }
  const sources = modelSources(model.spec.model);
  if (sources.model.claim !== undefined)
    references.push({ kind: "PersistentVolumeClaim", name: sources.model.claim, field: "spec.model.uri" });
  if (sources.tokenizer?.claim !== undefined && sources.tokenizer.claim !== sources.model.claim)
    references.push({
      kind: "PersistentVolumeClaim",
      name: sources.tokenizer.claim,
      field: "spec.model.tokenizerUri",
    });
  return references;
}

/**
 * Why the pods cannot be rendered for this spec although the API accepted it, naming the field; or
 * undefined. These are Stalled causes: only a spec change fixes them.
 */
export function unsupportedSpec(model: EmbeddingModel): string | undefined {
  const spec = model.spec;
  const sources = modelSources(spec.model);
  if (sources.archive && spec.model.sha256 === undefined)
    return "spec.model.sha256 is required for a model archive: jude fetch-model verifies it while unpacking";
  if (sources.tokenizer !== undefined && sources.tokenizer.localPath === undefined)
    return `spec.model.tokenizerUri ${sources.tokenizer.uri} is https:// but has no checksum field to verify it; put the tokenizer on a PVC, in the image, or serve a model archive (.tar.gz with jude-model.json)`;
  if (spec.serving.tls?.requireClientCertificate === true)
    return "spec.serving.tls.requireClientCertificate is not supported by jude serve yet (server TLS only)";
  return undefined;
}
