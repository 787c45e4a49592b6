/** The `jude serve` command line: flags and JUDE_SERVING_* variables mapped onto the serving config. */
import { parseArgs } from "node:util";
import {
  ConfigError,
  mergeConfig,
  parseServingConfig,
  readConfigFile,
  type ServingConfig,
} from "./config.ts";

type Kind = "string" | "number" | "boolean";

/**
 * A flag of `jude serve`: the config path it sets, how its text converts, its help. Its default is the
 * config schema's, shown in the usage as is; `unset` says instead what a flag whose schema default is
 * no one value stands for when absent (a value of the model's manifest, a derived one, nothing).
 */
interface Flag {
  path: readonly string[];
  kind: Kind;
  help: string;
  unset?: string;
  required?: true;
}

/**
 * Flags of `jude serve`, each mapped to a config path. Every flag also has an environment variable:
 * `--max-batch-tokens` is `JUDE_SERVING_MAX_BATCH_TOKENS`. Precedence: flag, environment, config file
 * (`--config` / `JUDE_SERVING_CONFIG`), defaults.
 */
const flags: Record<string, Flag> = {
  "model-dir": {
    path: ["modelDir"],
    kind: "string",
    help: "model directory (jude-model.json, tokenizer, ONNX files); env JUDE_MODEL_DIR too",
    required: true,
  },
  "model-name": {
    path: ["model", "name"],
    kind: "string",
    help: "model name reported to clients",
    unset: "the manifest's",
  },
  "model-version": {
    path: ["model", "version"],
    kind: "string",
    help: "embedding version reported with every vector",
    unset: "the manifest's version, else its name",
  },
  "model-digest": {
    path: ["model", "digest"],
    kind: "string",
    help: "sha256:<hex> of the model artifact",
    unset: "computed from the ONNX file",
  },
  precision: { path: ["model", "precision"], kind: "string", help: "fp32 | fp16 | int8" },
  pooling: {
    path: ["model", "pooling"],
    kind: "string",
    help: "mean | cls | last-token",
    unset: "the manifest's",
  },
  normalize: {
    path: ["model", "normalize"],
    kind: "boolean",
    help: "L2-normalise by default (true | false)",
    unset: "the manifest's",
  },
  "max-sequence-length": {
    path: ["model", "maxSequenceLength"],
    kind: "number",
    help: "tokens per input, special tokens included",
    unset: "the manifest's",
  },
  "execution-provider": { path: ["backend", "executionProvider"], kind: "string", help: "cpu | cuda | auto" },
  "intra-op-threads": {
    path: ["backend", "intraOpThreads"],
    kind: "number",
    help: "ONNX Runtime threads per operator and worker (0 = the cores divided among the workers)",
  },
  "cpu-max-batch-tokens": {
    path: ["backend", "cpuMaxBatchTokens"],
    kind: "number",
    help: "on the CPU, the most tokens in one batch (0 = max-batch-tokens alone)",
  },
  "inference-workers": {
    path: ["backend", "inferenceWorkers"],
    kind: "number",
    help: "inference worker threads, one ONNX Runtime session each (0 = 2 on a CPU with 2+ cores, else 1)",
  },
  "inter-op-threads": {
    path: ["backend", "interOpThreads"],
    kind: "number",
    help: "ONNX Runtime inter-op threads",
  },
  "allow-spinning": {
    path: ["backend", "allowSpinning"],
    kind: "boolean",
    help: "let idle ONNX Runtime threads spin (true | false)",
  },
  "cuda-device-id": {
    path: ["backend", "cudaDeviceId"],
    kind: "number",
    help: "GPU ordinal for the CUDA provider",
  },
  "max-batch-tokens": {
    path: ["batching", "maxBatchTokens"],
    kind: "number",
    help: "padded tokens per batch",
  },
  "max-batch-size": { path: ["batching", "maxBatchSize"], kind: "number", help: "inputs per batch" },
  "max-queue-delay-ms": {
    path: ["batching", "maxQueueDelayMs"],
    kind: "number",
    help: "wait for company while idle",
  },
  "max-concurrent-requests": {
    path: ["batching", "maxConcurrentRequests"],
    kind: "number",
    help: "inputs in flight before RESOURCE_EXHAUSTED",
  },
  "max-inputs-per-call": {
    path: ["limits", "maxInputsPerCall"],
    kind: "number",
    help: "inputs in one Embed call",
    unset: "128, or max-concurrent-requests when smaller",
  },
  "max-message-bytes": {
    path: ["limits", "maxMessageBytes"],
    kind: "number",
    help: "request size limit (gRPC and HTTP)",
  },
  "grpc-idle-connection-ms": {
    path: ["limits", "grpcIdleConnectionMs"],
    kind: "number",
    help: "close a gRPC connection without a call for this long (GOAWAY)",
  },
  "max-connection-age-ms": {
    path: ["limits", "maxConnectionAgeMs"],
    kind: "number",
    help: "end every connection after this (±10%), so busy clients rebalance",
  },
  "http-request-timeout-ms": {
    path: ["limits", "httpRequestTimeoutMs"],
    kind: "number",
    help: "an HTTP request (body included) must arrive within this (else 408)",
  },
  host: { path: ["listen", "host"], kind: "string", help: "listen address" },
  "grpc-port": { path: ["listen", "grpcPort"], kind: "number", help: "gRPC port (0 = any free port)" },
  "http-port": {
    path: ["listen", "httpPort"],
    kind: "number",
    help: "HTTP port: OpenAI API, /metrics, /healthz, /readyz",
  },
  "tls-cert-file": {
    path: ["tls", "certFile"],
    kind: "string",
    help: "PEM certificate chain (mounted Secret)",
    unset: "none, plaintext",
  },
  "tls-key-file": {
    path: ["tls", "keyFile"],
    kind: "string",
    help: "PEM private key (mounted Secret)",
    unset: "none, plaintext",
  },
  "auth-token-file": {
    path: ["auth", "tokenFile"],
    kind: "string",
    help: "file holding the bearer token (mounted Secret)",
    unset: "none, no authentication",
  },
  "drain-timeout-ms": {
    path: ["drainTimeoutMs"],
    kind: "number",
    help: "time for in-flight calls after SIGTERM",
  },
  "log-level": {
    path: ["logLevel"],
    kind: "string",
    help: "trace | debug | info | warn | error",
    unset: "$JUDE_LOG_LEVEL, else info",
  },
};

/** The config fields the flags set, as dotted paths (e.g. "limits.maxMessageBytes"). */
export function serveFlagPaths(): string[] {
  return Object.values(flags).map(({ path }) => path.join("."));
}

/** A config value as the usage shows a default: strings quoted, as Go's flag package does. */
export function defaultSpelling(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** What the usage says of a flag's default: the schema's own value, or its `unset` text. */
function defaultOf(flag: Flag, defaults: Record<string, unknown>): string {
  if (flag.required) return "(required)";
  if (flag.unset !== undefined) return `(default: ${flag.unset})`;
  const value = flag.path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], defaults);
  return `(default ${defaultSpelling(value)})`;
}

/** The help text of `jude serve`, every flag with its default (the config schema's). */
export function serveUsage(): string {
  // The schema's defaults: a config naming nothing but the (required) model directory.
  const defaults = parseServingConfig({ modelDir: "-" }) as unknown as Record<string, unknown>;
  const lines = Object.entries(flags).map(
    ([name, flag]) => `  --${name.padEnd(26)} ${flag.help} ${defaultOf(flag, defaults)}`,
  );
  return [
    "usage: jude serve [--config serving-config.yaml] [flags]",
    "",
    "  --config <file>              serving config (JSON or YAML); env JUDE_SERVING_CONFIG",
    "  --prompt <name>=<template>   add a prompt (repeatable)",
    ...lines,
    "",
    "Every flag can also be set as JUDE_SERVING_<FLAG> (e.g. JUDE_SERVING_GRPC_PORT).",
    "",
  ].join("\n");
}

/** Parses flags, environment and config file into a validated config. */
export async function loadServeConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ServingConfig> {
  const options = Object.fromEntries(Object.keys(flags).map((name) => [name, { type: "string" as const }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, config: { type: "string" }, prompt: { type: "string", multiple: true } },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
  const values = parsed.values as Record<string, string | string[] | undefined>;
  const configPath = (values.config as string | undefined) ?? env.JUDE_SERVING_CONFIG;
  const fromFile = configPath === undefined ? {} : readConfigFile(configPath);
  const fromEnv: Record<string, unknown> = {};
  const fromFlags: Record<string, unknown> = {};
  if (env.JUDE_MODEL_DIR) fromEnv.modelDir = env.JUDE_MODEL_DIR;
  for (const [name, spec] of Object.entries(flags)) {
    const envValue = env[`JUDE_SERVING_${name.toUpperCase().replaceAll("-", "_")}`];
    if (envValue !== undefined && envValue !== "")
      setPath(fromEnv, spec.path, convert(name, envValue, spec.kind));
    const flagValue = values[name];
    if (typeof flagValue === "string") setPath(fromFlags, spec.path, convert(name, flagValue, spec.kind));
  }
  const prompts = (values.prompt as string[] | undefined) ?? [];
  if (prompts.length > 0) fromFlags.prompts = Object.fromEntries(prompts.map(parsePromptFlag));
  return parseServingConfig(mergeConfig(fromFile, fromEnv, fromFlags));
}

function convert(name: string, value: string, kind: Kind): unknown {
  if (kind === "string") return value;
  if (kind === "boolean") {
    if (value === "true" || value === "false") return value === "true";
    throw new ConfigError(`--${name} must be true or false, got "${value}"`);
  }
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number))
    throw new ConfigError(`--${name} must be a number, got "${value}"`);
  return number;
}

function parsePromptFlag(flag: string): [string, string] {
  const separator = flag.indexOf("=");
  if (separator <= 0) throw new ConfigError(`--prompt must look like name=template, got "${flag}"`);
  return [flag.slice(0, separator), flag.slice(separator + 1)];
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  path.forEach((key, index) => {
    if (index === path.length - 1) node[key] = value;
    else node = (node[key] ??= {}) as Record<string, unknown>;
  });
}
