// The plugin's view of the cluster: the user's kubeconfig, the three JUDE kinds read and patched, and
// API errors turned into messages that say what to do (CRDs missing, access denied, not found).
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ApiException, KubeConfig, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import {
  apiVersion,
  type BootstrapRun,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import {
  parseVersionRecord,
  versionRecordSelector,
  type VersionRecord,
} from "../../controllers/embedding-model/version-record.ts";

/** A failure the plugin reports as one clear line (exit code 1). */
export class PluginError extends Error {
  override readonly name = "PluginError";
}

/** Where and as whom the plugin talks to the cluster. */
export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
}

/** The JUDE objects the plugin reads. */
export interface JudeObjects {
  models: EmbeddingModel[];
  pipelines: NearlinePipeline[];
  bootstrapRuns: BootstrapRun[];
}

const plurals: Record<string, string> = {
  EmbeddingModel: "embeddingmodels",
  NearlinePipeline: "nearlinepipelines",
  BootstrapRun: "bootstrapruns",
};

/** Read and patch access to the JUDE kinds with the user's credentials. */
export class Cluster {
  private readonly api: KubernetesObjectApi;
  readonly config: KubeConfig;

  constructor(options: ClusterOptions) {
    this.config = loadKubeConfig(options);
    this.api = KubernetesObjectApi.makeApiClient(this.config);
  }

  /** The namespace of the current context (default when it names none). */
  currentNamespace(): string {
    return this.config.getContextObject(this.config.getCurrentContext())?.namespace ?? "default";
  }

  /** Every EmbeddingModel, NearlinePipeline and BootstrapRun in a namespace (undefined: all). */
  async readAll(namespace: string | undefined): Promise<JudeObjects> {
    // Models first: a user who may not read them is told about them, not about another kind.
    const models = await this.list<EmbeddingModel>("EmbeddingModel", namespace);
    const [pipelines, bootstrapRuns] = await Promise.all([
      this.list<NearlinePipeline>("NearlinePipeline", namespace),
      this.list<BootstrapRun>("BootstrapRun", namespace),
    ]);
    return { models, pipelines, bootstrapRuns };
  }

  /** One EmbeddingModel. */
  async readModel(namespace: string, name: string): Promise<EmbeddingModel> {
    try {
      return (await this.api.read({
        apiVersion,
        kind: "EmbeddingModel",
        metadata: { name, namespace },
      })) as unknown as EmbeddingModel;
    } catch (error) {
      throw this.explain(error, "get", "EmbeddingModel", namespace, name);
    }
  }

  /** The operator's records of a model's versions (their model and prompts, for rollback). */
  async readVersionRecords(namespace: string, model: string): Promise<VersionRecord[]> {
    const selector = Object.entries(versionRecordSelector(model))
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    try {
      const list = await this.api.list(
        "v1",
        "ConfigMap",
        namespace,
        undefined,
        undefined,
        undefined,
        undefined, // fieldSelector
        selector,
      );
      return list.items.flatMap((item) => parseVersionRecord(item as never) ?? []);
    } catch (error) {
      throw this.explain(error, "list", "ConfigMap", namespace);
    }
  }

  /** A JSON merge patch of an EmbeddingModel's spec (what a Git commit would change). */
  async patchModelSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    try {
      await this.api.patch(
        { apiVersion, kind: "EmbeddingModel", metadata: { name, namespace }, spec },
        undefined,
        undefined,
        "kubectl-jude",
        undefined,
        PatchStrategy.MergePatch,
      );
    } catch (error) {
      throw this.explain(error, "patch", "EmbeddingModel", namespace, name);
    }
  }

  private async list<T>(kind: string, namespace: string | undefined): Promise<T[]> {
    try {
      const list = await this.api.list(apiVersion, kind, namespace);
      return list.items as unknown as T[];
    } catch (error) {
      throw this.explain(error, "list", kind, namespace);
    }
  }

  private explain(error: unknown, verb: string, kind: string, namespace?: string, name?: string): Error {
    return explainApiError(error, {
      verb,
      kind,
      ...(namespace !== undefined && { namespace }),
      ...(name !== undefined && { name }),
      user: this.config.getCurrentUser()?.name ?? "the current user",
      server: this.config.getCurrentCluster()?.server ?? "no server",
    });
  }
}

/**
 * The user's kubeconfig (`--kubeconfig`, else $KUBECONFIG or ~/.kube/config) with `--context` selected.
 * A file that cannot be read or parsed, or a context or cluster it does not define, is a PluginError
 * naming the file, rather than a stack trace from the client library.
 */
export function loadKubeConfig(options: ClusterOptions): KubeConfig {
  const config = new KubeConfig();
  const defaultFile = join(homedir(), ".kube", "config");
  const fromEnvironment = process.env.KUBECONFIG !== undefined && process.env.KUBECONFIG !== "";
  const source = options.kubeconfig ?? (fromEnvironment ? process.env.KUBECONFIG! : defaultFile);
  // Without any kubeconfig the client library falls back to http://localhost:8080, and the user would
  // read about that server instead of the missing file (in a pod, the service account is used).
  if (
    options.kubeconfig === undefined &&
    !fromEnvironment &&
    !existsSync(defaultFile) &&
    process.env.KUBERNETES_SERVICE_HOST === undefined
  )
    throw new PluginError(
      `no kubeconfig: ${defaultFile} does not exist; pass --kubeconfig FILE or set KUBECONFIG`,
    );
  try {
    if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new PluginError(`cannot load the kubeconfig ${source}: ${reason}`);
  }
  if (options.context !== undefined) {
    const names = config.getContexts().map((context) => context.name);
    if (!names.includes(options.context))
      throw new PluginError(
        `context "${options.context}" is not in the kubeconfig ${source} (it has: ${names.join(", ") || "none"})`,
      );
    config.setCurrentContext(options.context);
  }
  if (config.getCurrentCluster() === null)
    throw new PluginError(
      `the kubeconfig ${source} names no cluster for context "${config.getCurrentContext()}"`,
    );
  return config;
}

/** What the plugin was doing when an API call failed. */
export interface CallContext {
  verb: string;
  kind: string;
  namespace?: string;
  name?: string;
  user: string;
  server: string;
}

/** Turns an API failure into a message that says what is wrong and what to do. */
export function explainApiError(error: unknown, call: CallContext): PluginError {
  const judePlural = plurals[call.kind];
  // The JUDE kinds by their CRD name; anything else the plugin reads (the operator's version record
  // ConfigMaps, for rollback) is a core resource: its name carries no group.
  const resource = judePlural === undefined ? `${call.kind.toLowerCase()}s` : `${judePlural}.jude.dev`;
  const plural = judePlural ?? `${call.kind.toLowerCase()}s`;
  const where = call.namespace === undefined ? "in any namespace" : `in namespace ${call.namespace}`;
  const code = error instanceof ApiException ? error.code : undefined;
  if (code === 404 && call.name === undefined && judePlural !== undefined)
    return new PluginError(
      `the JUDE resources (${resource}) are not installed in this cluster: install the operator with its CRDs (helm install jude-operator charts/jude-operator)`,
    );
  if (code === 404 && call.name !== undefined)
    return new PluginError(`${call.kind} ${call.name} not found ${where}`);
  if (code === 403 || code === 401)
    return new PluginError(
      `access denied: ${call.user} may not ${call.verb} ${resource} ${where} (ask for a Role that grants it)`,
    );
  if (code !== undefined) return new PluginError(`cannot ${call.verb} ${plural} ${where}: HTTP ${code}`);
  const reason = error instanceof Error ? error.message : String(error);
  return new PluginError(`cannot reach the cluster (${call.server}): ${reason}`);
}
