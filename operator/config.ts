// `jude operator` configuration: flags, each with an environment variable (--lease-name is
// JUDE_OPERATOR_LEASE_NAME; flags win), validated by one zod schema that states every default.
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  defaultImageRepository,
  imagePullPolicies,
  imageRepositoryPattern,
} from "../controllers/shared/image.ts";
import { dnsSubdomainPattern } from "../crds/patterns.ts";
import { ConfigError } from "../plumbing/config-file.ts";
import { defaultRetryMaxDelayMs } from "./runtime/rate-limiter.ts";
import { pipelinePollMs } from "../controllers/nearline-pipeline/caught-up.ts";
import { LOG_LEVELS } from "../plumbing/logger.ts";
import { nodeSelectorFlag, tolerationsFlag } from "./placement-config.ts";

const seconds = (fallback: number) => z.coerce.number().positive().max(86_400).default(fallback);
/** An OCI digest (algorithm:hex), e.g. sha256:… */
const digest = z
  .string()
  .regex(
    /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/,
    "not an image digest (sha256:<64 hex digits>)",
  );

const list = z.string().transform((text) =>
  text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== ""),
);

/** The validated operator configuration. */
export const operatorConfigSchema = z
  .strictObject({
    kubeconfig: z.string().min(1).optional().describe("kubeconfig file; in-cluster credentials when absent"),
    namespaces: list
      .optional()
      .describe("comma-separated namespaces to watch; all namespaces when absent or empty"),
    controllers: list.optional().describe("comma-separated controllers to run; all when absent"),
    leaderElect: z.stringbool().default(true).describe("compete for the leader Lease (true | false)"),
    leaseNamespace: z
      .string()
      .min(1)
      .default("default")
      .describe("namespace of the leader Lease (POD_NAMESPACE too)"),
    leaseName: z.string().min(1).default("jude-operator").describe("name of the leader Lease"),
    leaseDurationSeconds: seconds(15).describe("how long a standby waits before taking an unrenewed Lease"),
    renewDeadlineSeconds: seconds(10).describe("the leader stops when it could not renew for this long"),
    retryPeriodSeconds: seconds(2).describe("how often the Lease is renewed or tried"),
    identity: z
      .string()
      .min(1)
      .default(`${hostname()}-${process.pid}`)
      .describe("holder identity (POD_NAME too)"),
    httpHost: z.string().min(1).default("0.0.0.0").describe("address of /healthz, /readyz and /metrics"),
    httpPort: z.coerce
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(8081)
      .describe("port of /healthz, /readyz and /metrics"),
    imageRepository: z
      .string()
      .max(255, "not an image name without tag or digest (at most 255 characters)")
      .regex(
        imageRepositoryPattern,
        "not an image name without tag or digest ([registry[:port]/]path, lowercase path components)",
      )
      .default(defaultImageRepository)
      .describe("repository of the jude image pods run"),
    imageTag: z
      .string()
      // A tag only, 5 characters short of the 128 a tag may have: the CUDA image is <tag>-cuda, which a
      // digest in the tag, or a longer tag, would turn into no image at all.
      .regex(
        /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,122}$/,
        "not an image tag of at most 123 characters (a digest goes in --image-digest)",
      )
      .default("0.1.0")
      .describe("tag of the jude image pods run (the CUDA image is <tag>-cuda)"),
    imageDigest: digest.optional().describe("digest of the jude image: pods run <repository>:<tag>@<digest>"),
    cudaImageDigest: digest
      .optional()
      .describe("digest of the CUDA image: accelerated servers run <repository>:<tag>-cuda@<digest>"),
    workloadImagePullPolicy: z
      .enum(imagePullPolicies)
      .optional()
      .describe(
        "imagePullPolicy of every workload container running the jude images; Kubernetes' default when absent",
      ),
    workloadImagePullSecrets: list
      .pipe(z.array(z.string().max(253).regex(dnsSubdomainPattern, "not a Secret name")))
      // A name given twice would make every server-side apply of a pod template fail (a list map).
      .transform((names) => [...new Set(names)])
      .default([])
      .describe("comma-separated pull Secrets of every workload pod; each must exist in the pods' namespace"),
    workloadServiceAccount: z
      .string()
      .max(253)
      .regex(dnsSubdomainPattern, "not a ServiceAccount name")
      .optional()
      .describe(
        "ServiceAccount of every workload pod (it must exist in the pods' namespace; its token is never mounted); the namespace's default when absent",
      ),
    concurrency: z.coerce
      .number()
      .int()
      .min(1)
      .max(64)
      .default(16)
      .describe("keys each controller reconciles at once"),
    pipelinePollSeconds: z.coerce
      .number()
      .int()
      .min(2)
      .max(3_600)
      .default(pipelinePollMs / 1000)
      .describe(
        "how often each NearlinePipeline's status is refreshed from its workers' figures (lag, freshness, counts), which a promotion's CaughtUp gate waits on, and a missing Secret looked for again",
      ),
    workloadNodeSelector: nodeSelectorFlag
      .optional()
      .describe("key=value,… labels every workload pod's node must carry (a resource's own win per key)"),
    workloadTolerations: tolerationsFlag
      .optional()
      .describe("JSON array of tolerations added to every workload pod (serving, nearline, bootstrap)"),
    retryQps: z.coerce.number().positive().default(10).describe("overall retry rate of each work queue"),
    retryBurst: z.coerce.number().int().min(1).default(100).describe("retries a work queue may burst"),
    retryMaxDelaySeconds: seconds(defaultRetryMaxDelayMs / 1000).describe(
      "longest wait before a failed key is retried (5 ms doubling up to this): a store or broker that comes back is noticed within it",
    ),
    watchStaleSeconds: seconds(300).describe("/readyz fails when an informer was silent this long"),
    drainSeconds: seconds(25).describe("time reconciles in progress get to finish on SIGTERM"),
    reconcileErrorAfterSeconds: seconds(60).describe(
      "a resource whose reconciles fail this long (3 tries at least) turns Stalled with reason ReconcileError",
    ),
    externalTimeoutSeconds: seconds(20).describe(
      "longest a changelog's end offsets or a run's checkpoints may take to read before the reconcile retries",
    ),
    parityTimeoutSeconds: seconds(30).describe(
      "longest a parity measurement may take before the gate says it could not be measured",
    ),
    modelResyncSeconds: seconds(30).describe(
      "how often a model is reconciled while nothing else wakes it (notices store drift, Secrets and claims deleted or renewed)",
    ),
    collectionPollSeconds: seconds(5).describe(
      "how often a model looks again while store versions wait to be collected (one bounded step each time)",
    ),
    logLevel: z
      .enum(LOG_LEVELS)
      .optional()
      .describe(`${LOG_LEVELS.join(" | ")}; JUDE_LOG_LEVEL, else info, when absent`),
  })
  .refine((config) => config.leaseDurationSeconds > config.renewDeadlineSeconds, {
    message:
      "lease-duration-seconds must exceed renew-deadline-seconds, or a slow leader overlaps its successor",
    path: ["leaseDurationSeconds"],
  })
  .refine((config) => config.renewDeadlineSeconds > config.retryPeriodSeconds, {
    message: "renew-deadline-seconds must exceed retry-period-seconds so a renewal can be retried",
    path: ["renewDeadlineSeconds"],
  });

export type OperatorConfig = z.output<typeof operatorConfigSchema>;

type Field = keyof z.input<typeof operatorConfigSchema>;

/** kebab-case flag of a config field. */
function flagOf(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** JUDE_OPERATOR_* variable of a config field. */
function envOf(field: string): string {
  return `JUDE_OPERATOR_${flagOf(field).replace(/-/g, "_").toUpperCase()}`;
}

const fields = Object.keys(operatorConfigSchema.shape) as Field[];

/** Environment variables the platform sets that a field also accepts (after its own variable). */
const platformEnv: Partial<Record<Field, string>> = {
  kubeconfig: "KUBECONFIG",
  leaseNamespace: "POD_NAMESPACE",
  identity: "POD_NAME",
};

/** Parses flags and environment into a validated config; throws ConfigError. */
export function loadOperatorConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(fields.map((field) => [flagOf(field), { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const raw: Record<string, string> = {};
  for (const field of fields) {
    const platform = platformEnv[field];
    const value =
      values[flagOf(field)] ?? env[envOf(field)] ?? (platform === undefined ? undefined : env[platform]);
    if (value !== undefined) raw[field] = value;
  }
  const result = operatorConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `  --${flagOf(String(issue.path[0] ?? ""))}: ${issue.message}`,
  );
  throw new ConfigError(`invalid operator configuration:\n${problems.join("\n")}`);
}

/** Defaults the usage names rather than shows: this process's value would be wrong for any other. */
const defaultNames: Partial<Record<Field, string>> = { identity: "<hostname>-<pid>" };

/**
 * A flag's default as the usage shows it, from the schema's (the config when nothing is given):
 * strings quoted and lists comma-separated, as the flag takes them; nothing for a field that is absent
 * or an empty list by default, whose description says what that means.
 */
function defaultOf(field: Field, defaults: Record<string, unknown>): string | undefined {
  const named = defaultNames[field];
  if (named !== undefined) return named;
  const value = defaults[field];
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (Array.isArray(value)) return JSON.stringify(value.join(","));
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The usage text, generated from the schema so flags, defaults and help cannot drift. */
export function operatorUsage(): string {
  const shape = operatorConfigSchema.shape;
  const defaults = operatorConfigSchema.parse({}) as Record<string, unknown>;
  const width = Math.max(...fields.map((field) => flagOf(field).length));
  const lines = fields.map((field) => {
    const description = (shape[field] as z.ZodType).description ?? "";
    const fallback = defaultOf(field, defaults);
    const shown = fallback === undefined ? "" : ` (default ${fallback})`;
    return `  --${flagOf(field).padEnd(width)} ${description}${shown} [${envOf(field)}]`;
  });
  return `usage: jude operator [flags]\n\nflags (each also an environment variable):\n${lines.join("\n")}\n`;
}
