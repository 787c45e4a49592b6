// The files a version's pods read from its ConfigMap: the `jude serve` config (validated by the
// server's own schema, so a config the operator renders is one the server accepts) and, for a single
// model file, the jude-model.json manifest naming where model and tokenizer are. Their hash goes into
// the pod template, so any change (batching, say) rolls the pods.
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { EmbeddingModel } from "../../crds/index.ts";
import { parseServingConfig, type ServingConfigInput } from "../../serving/config.ts";
import { copiedModelFile, manifestPath, modelDir, modelSources } from "./model-source.ts";

/** Mount paths of the serving container. */
export const servingPaths = {
  config: "/etc/jude/serving",
  tls: "/etc/jude/tls",
  auth: "/etc/jude/auth",
} as const;

/** Ports of the serving container. */
export const servingPorts = { grpc: 50051, http: 8080 } as const;

/** How long the server drains calls in flight after SIGTERM (below the pod's grace period). */
export const drainTimeoutMs = 25_000;

/** File names in the ConfigMap. */
/** The serving TLS Secret's keys the server reads (as files, once at start): its certificate and key. */
export const servingTlsFiles = ["tls.crt", "tls.key"];

/**
 * What the server reads of a TLS Secret's `data` (base64, as the API server returns it): the values of
 * servingTlsFiles it has, decoded. Kept in memory only, for the pod template's digest (secretStampsOf).
 */
export function servingTlsValues(data: Readonly<Record<string, unknown>>): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const key of servingTlsFiles) {
    const value = data[key];
    if (typeof value === "string") values.set(key, Buffer.from(value, "base64"));
  }
  return values;
}

export const configFiles = { serving: "serving.yaml", manifest: "jude-model.json" } as const;

/** The `jude serve` config of the spec's version; throws ConfigError when the server would refuse it. */
export function desiredServingConfig(model: EmbeddingModel): ServingConfigInput {
  const { spec } = model;
  const config: ServingConfigInput = {
    modelDir,
    model: {
      name: model.metadata.name,
      version: spec.version,
      ...(spec.model.sha256 === undefined ? {} : { digest: `sha256:${spec.model.sha256}` }),
      precision: spec.model.precision,
      pooling: spec.model.pooling,
      normalize: spec.model.normalize,
      maxSequenceLength: spec.model.maxSequenceLength,
      dimensions: spec.model.dimensions,
    },
    prompts: spec.prompts,
    batching: spec.serving.batching,
    listen: { host: "0.0.0.0", grpcPort: servingPorts.grpc, httpPort: servingPorts.http },
    ...(spec.serving.tls === undefined
      ? {}
      : { tls: { certFile: `${servingPaths.tls}/tls.crt`, keyFile: `${servingPaths.tls}/tls.key` } }),
    ...(spec.serving.auth === undefined ? {} : { auth: { tokenFile: `${servingPaths.auth}/token` } }),
    drainTimeoutMs,
  };
  parseServingConfig(config);
  return config;
}

/** jude-model.json for a single model file (undefined for an archive, which carries its own). */
export function desiredModelManifest(model: EmbeddingModel): Record<string, unknown> | undefined {
  const { spec } = model;
  const sources = modelSources(spec.model);
  if (sources.archive || sources.tokenizer === undefined) return undefined;
  const copied = spec.model.sha256 !== undefined;
  const modelFile = manifestPath(sources.model, copied);
  return {
    name: model.metadata.name,
    version: spec.version,
    dimensions: spec.model.dimensions,
    pooling: spec.model.pooling,
    normalize: spec.model.normalize,
    maxSequenceLength: spec.model.maxSequenceLength,
    files: { [spec.model.precision]: modelFile, tokenizer: manifestPath(sources.tokenizer, false) },
    sha256: spec.model.sha256 === undefined ? {} : { [copiedModelFile]: spec.model.sha256 },
  };
}

/** The ConfigMap data of a version: serving.yaml and (for single files) jude-model.json. */
export function servingConfigData(model: EmbeddingModel): Record<string, string> {
  const manifest = desiredModelManifest(model);
  return {
    [configFiles.serving]: stringify(desiredServingConfig(model), { lineWidth: 0 }),
    ...(manifest === undefined ? {} : { [configFiles.manifest]: `${JSON.stringify(manifest, null, 2)}\n` }),
  };
}

/** sha256 hex of a string. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Hash of the ConfigMap data (keys sorted), for the pod template annotation. */
export function configHash(data: Record<string, string>): string {
  const sorted = Object.keys(data)
    .sort()
    .map((key) => [key, data[key]]);
  return sha256Hex(JSON.stringify(sorted));
}
