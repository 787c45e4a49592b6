// The plugin's view of the cluster: the user's kubeconfig, the three JUDE kinds read and patched, and
// API errors turned into messages that say what to do (CRDs missing, access denied, not found).
import { AsyncLocalStorage } from "node:async_hooks";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ApiException,
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  ServerConfiguration,
  setHeaderMiddleware,
  type User,
} from "@kubernetes/client-node";
import {
  apiVersion,
  type BootstrapRun,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import {
  parseVersionRecord,
  versionRecordName,
  versionRecordSelector,
  type VersionRecord,
} from "../../controllers/embedding-model/version-record.ts";
import { versionsNamedBy } from "../../controllers/embedding-model/record-reader.ts";
import { MAX_TIMER_MS } from "../../plumbing/timers.ts";
import { MAX_GO_DURATION_NS, parseGoDuration } from "./go-duration.ts";
import { invalidModelName, invalidNamespace } from "./object-names.ts";
import { didYouMean } from "./suggest.ts";

/** The most EmbeddingModels read for a mistyped name's suggestions (one page of the list). */
const suggestionsPage = 500;

/** The reason a request is aborted when it outlives --request-timeout. */
export class RequestTimeout extends Error {
  override readonly name = "RequestTimeout";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no answer within ${formatDuration(timeoutMs)}`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * 1500 -> "1.5s", 60000 -> "1m", 3723500 -> "1h2m3.5s", 0.5 -> "500µs" (as the user would have typed
 * it: Go's units, without Go's "0s" and "0m" fillers).
 */
export function formatDuration(ms: number): string {
  if (ms < 1e-3) return `${Math.round(ms * 1e6)}ns`;
  if (ms < 1) return `${Math.round(ms * 1e6) / 1e3}\u00b5s`;
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms - hours * 3_600_000) / 60_000);
  const seconds = (ms - hours * 3_600_000 - minutes * 60_000) / 1000;
  return `${hours > 0 ? `${hours}h` : ""}${minutes > 0 ? `${minutes}m` : ""}${seconds > 0 ? `${seconds}s` : ""}`;
}

/**
 * kubectl's --request-timeout value in milliseconds (a fraction below 1 ms kept), read as kubectl's
 * clientcmd.ParseTimeout reads it: a non-negative integer is seconds, anything else Go's
 * time.ParseDuration; empty or 0 means no limit. A negative duration also means no limit, as kubectl's
 * HTTP client sets a deadline only for a positive one. Undefined when kubectl refuses the text, and
 * for more seconds than a Go duration holds, which kubectl wraps around to another duration.
 */
export function parseRequestTimeout(text: string): number | undefined {
  if (text === "") return 0;
  const seconds = /^[+-]?\d+$/.test(text) ? BigInt(text) : undefined;
  const nanoseconds =
    seconds !== undefined && seconds >= 0n
      ? seconds * 1_000_000_000n <= MAX_GO_DURATION_NS
        ? seconds * 1_000_000_000n
        : undefined
      : parseGoDuration(text);
  if (nanoseconds === undefined) return undefined;
  return nanoseconds <= 0n ? 0 : Number(nanoseconds) / 1e6;
}

/** A failure the plugin reports as one clear line (exit code 1). */
export class PluginError extends Error {
  override readonly name = "PluginError";
}

/** A PluginError for an object the API server does not have (404 on a named object). */
export class NotFound extends PluginError {}

/**
 * A PluginError for an API call that failed on the API server's side or on the way there, not on what
 * the user asked: the HTTP status it answered (undefined when no answer came) and its Status message.
 */
export class ApiFailure extends PluginError {
  readonly status: number | undefined;
  readonly apiMessage: string | undefined;
  /** True when the plugin's own --request-timeout ran out. */
  readonly timedOut: boolean;
  constructor(
    message: string,
    answer: { status?: number | undefined; apiMessage?: string | undefined; timedOut?: boolean } = {},
  ) {
    super(message);
    this.status = answer.status;
    this.apiMessage = answer.apiMessage;
    this.timedOut = answer.timedOut ?? false;
  }
}

/** Where and as whom the plugin talks to the cluster. */
export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
  /** The longest wait between tries of a call the API server asked to retry (default 5 s). */
  maxRetryDelayMs?: number;
  /**
   * How long one API request may take before the plugin gives up (kubectl's --request-timeout);
   * 0 or absent: no limit of the plugin's own, as with kubectl.
   */
  requestTimeoutMs?: number;
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
  readonly #maxRetryDelayMs: number;
  /**
   * The caller's abort signal of the call running (mayI's): the client library takes no signal per
   * call, so its request middleware reads it from here and aborts the HTTP request with it.
   */
  readonly #callSignal = new AsyncLocalStorage<AbortSignal>();

  constructor(options: ClusterOptions) {
    this.config = loadKubeConfig(options);
    const timeoutMs = options.requestTimeoutMs ?? 0;
    // What KubeConfig.makeApiClient builds, plus a deadline on every request (discovery included).
    this.api = new KubernetesObjectApi(
      createConfiguration({
        baseServer: new ServerConfiguration(this.config.getCurrentCluster()!.server, {}),
        authMethods: { default: this.config },
        middleware: [setHeaderMiddleware("User-Agent", "kubectl-jude")],
        promiseMiddleware: [
          {
            pre: async (context) => {
              const signals: AbortSignal[] = [];
              if (timeoutMs > 0) {
                const controller = new AbortController();
                // Longer than a Node timer waits, it would fire after 1 ms: capped (24.8 days).
                const delayMs = Math.min(timeoutMs, MAX_TIMER_MS);
                setTimeout(() => controller.abort(new RequestTimeout(timeoutMs)), delayMs).unref();
                signals.push(controller.signal);
              }
              const callSignal = this.#callSignal.getStore();
              if (callSignal !== undefined) signals.push(callSignal);
              if (signals.length > 0)
                context.setSignal(signals.length === 1 ? signals[0]! : AbortSignal.any(signals));
              return context;
            },
            post: async (response) => response,
          },
        ],
      }),
    );
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
  }

  /** The namespace of the current context (default when it names none). */
  currentNamespace(): string {
    return this.config.getContextObject(this.config.getCurrentContext())?.namespace ?? "default";
  }

  /** Every EmbeddingModel, NearlinePipeline and BootstrapRun in a namespace (undefined: all). */
  async readAll(namespace: string | undefined): Promise<JudeObjects> {
    if (namespace !== undefined) checkNames(namespace);
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
    checkNames(namespace, name);
    try {
      return (await this.#retrying(() =>
        this.api.read({
          apiVersion,
          kind: "EmbeddingModel",
          metadata: { name, namespace },
        }),
      )) as unknown as EmbeddingModel;
    } catch (error) {
      // The API server answers 404 both for a model that does not exist and for a kind it does not
      // serve (no CRDs): a list of the kind that is 404 too says the CRDs are missing. Any other
      // answer to it (a Role that grants get but not list) leaves the model not found. The list's
      // names give a mistyped name's closest ones ("did you mean …?").
      if (!(error instanceof ApiException && error.code === 404))
        throw this.explain(error, "get", "EmbeddingModel", namespace, name);
      const names = await this.#modelNames(namespace);
      if (names === "kind missing") throw this.explain(error, "list", "EmbeddingModel", namespace);
      const explained = this.explain(error, "get", "EmbeddingModel", namespace, name);
      const suggested = explained instanceof NotFound ? didYouMean(name, names) : "";
      throw suggested === "" ? explained : new NotFound(`${explained.message}${suggested}`);
    }
  }

  /**
   * The names of the namespace's EmbeddingModels; "kind missing" when the API server serves no such
   * kind (its list is 404: the CRDs are not installed); none when the list is refused or fails.
   */
  async #modelNames(namespace: string): Promise<string[] | "kind missing"> {
    try {
      // One bounded page (whole objects, status included): a namespace of thousands of models costs
      // a mistyped name no more than this; its first names (the API server lists them by name) suggest.
      const list = await this.api.list(
        apiVersion,
        "EmbeddingModel",
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        suggestionsPage,
      );
      return list.items.flatMap((item) => item.metadata?.name ?? []);
    } catch (error) {
      return error instanceof ApiException && error.code === 404 ? "kind missing" : [];
    }
  }

  /**
   * The operator's records of a model's versions (their model and prompts, for rollback), as the
   * operator reads them: those its labels list and, by name, those of every version the model names
   * (spec, active, status; a record whose labels were removed by hand is still the version's record),
   * and only records the model owns (one of the right name and labels another object owns is not).
   */
  async readVersionRecords(namespace: string, model: EmbeddingModel): Promise<VersionRecord[]> {
    const name = model.metadata.name;
    const selector = Object.entries(versionRecordSelector(name))
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    type ConfigMap = Parameters<typeof parseVersionRecord>[0] & {
      metadata?: { name?: string; ownerReferences?: { uid?: string }[] };
    };
    let found: ConfigMap[];
    try {
      const list = await this.#retrying(() =>
        this.api.list(
          "v1",
          "ConfigMap",
          namespace,
          undefined,
          undefined,
          undefined,
          undefined, // fieldSelector
          selector,
        ),
      );
      found = list.items as ConfigMap[];
    } catch (error) {
      throw this.explain(error, "list", "ConfigMap", namespace);
    }
    const listed = new Set(found.map((item) => item.metadata?.name));
    const named = new Set(
      versionsNamedBy(model)
        .filter((version): version is string => typeof version === "string" && version !== "")
        .map((version) => versionRecordName(name, version))
        .filter((recordName) => !listed.has(recordName)),
    );
    for (const recordName of named) {
      try {
        found.push(
          (await this.#retrying(() =>
            this.api.read({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: recordName, namespace } }),
          )) as ConfigMap,
        );
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) continue;
        throw this.explain(error, "get", "ConfigMap", namespace, recordName);
      }
    }
    return found
      .filter((item) => item.metadata?.ownerReferences?.some((owner) => owner.uid === model.metadata.uid))
      .flatMap((item) => parseVersionRecord(item) ?? []);
  }

  /**
   * A JSON merge patch of an EmbeddingModel's spec (what a Git commit would change). With
   * `resourceVersion`, only if the object is still that version: false when it changed meanwhile.
   */
  async patchModelSpec(
    namespace: string,
    name: string,
    spec: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<boolean> {
    checkNames(namespace, name);
    const metadata = { name, namespace, ...(resourceVersion !== undefined && { resourceVersion }) };
    try {
      await this.#retrying(() =>
        this.api.patch(
          { apiVersion, kind: "EmbeddingModel", metadata, spec },
          undefined,
          undefined,
          "kubectl-jude",
          undefined,
          PatchStrategy.MergePatch,
        ),
      );
      return true;
    } catch (error) {
      if (resourceVersion !== undefined && error instanceof ApiException && error.code === 409) return false;
      throw this.explain(error, "patch", "EmbeddingModel", namespace, name);
    }
  }

  /** The kubeconfig's user as refusals name it ("admin (acting as jane)" when it impersonates). */
  userDescription(): string {
    return userDescription(this.config.getCurrentUser());
  }

  /**
   * Whether the user may `verb` the JUDE `kind` in `namespace` (any object of it, or the one named
   * `name`: a Role may name the objects it grants), asked with a SelfSubjectAccessReview;
   * undefined when that cannot be told (the review itself refused or failed): the caller then
   * proceeds and the API server decides, as without the question. `signal` aborts it: its HTTP
   * request is closed (a caller that gives up on a hung API server leaves no request open) and the
   * answer is undefined.
   */
  async mayI(
    verb: string,
    kind: string,
    namespace: string,
    name?: string,
    signal?: AbortSignal,
  ): Promise<boolean | undefined> {
    if (signal?.aborted === true) return undefined;
    try {
      const ask = () =>
        this.api.create({
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectAccessReview",
          metadata: {},
          spec: {
            resourceAttributes: {
              namespace,
              verb,
              group: "jude.dev",
              resource: plurals[kind],
              ...(name !== undefined && { name }),
            },
          },
        } as never);
      const review = (await (signal === undefined
        ? this.#retrying(ask)
        : this.#callSignal.run(signal, () => this.#retrying(ask, signal)))) as {
        status?: { allowed?: boolean; evaluationError?: string };
      };
      if (review.status?.allowed === true) return true;
      // Not allowed because a rule could not be evaluated (an authorizer failed) is not a "no".
      return review.status?.evaluationError ? undefined : false;
    } catch {
      return undefined;
    }
  }

  private async list<T>(kind: string, namespace: string | undefined): Promise<T[]> {
    try {
      const list = await this.#retrying(() => this.api.list(apiVersion, kind, namespace));
      return list.items as unknown as T[];
    } catch (error) {
      throw this.explain(error, "list", kind, namespace);
    }
  }

  /**
   * Runs an API call again when the API server asks for that (429 Too Many Requests, or a 5xx with
   * Retry-After), as kubectl does: a freshly installed CRD, or a restarted API server, answers 429
   * while its watch cache fills. At most `retryAttempts` tries, each wait capped.
   */
  async #retrying<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        const delayMs = retryDelayMs(error);
        if (delayMs === undefined || attempt >= retryAttempts || signal?.aborted === true) throw error;
        await sleep(Math.min(delayMs, this.#maxRetryDelayMs), undefined, signal && { signal });
      }
    }
  }

  private explain(error: unknown, verb: string, kind: string, namespace?: string, name?: string): Error {
    return explainApiError(error, {
      verb,
      kind,
      ...(namespace !== undefined && { namespace }),
      ...(name !== undefined && { name }),
      user: userDescription(this.config.getCurrentUser()),
      server: this.config.getCurrentCluster()?.server ?? "no server",
    });
  }
}

/** Refuses a namespace or EmbeddingModel name that no object can have (see object-names.ts). */
function checkNames(namespace: string, modelName?: string): void {
  const invalid =
    invalidNamespace(namespace) ?? (modelName === undefined ? undefined : invalidModelName(modelName));
  if (invalid !== undefined) throw new PluginError(invalid);
}

/**
 * The user's kubeconfig (`--kubeconfig`, else $KUBECONFIG or ~/.kube/config) with `--context` selected
 * (else its current context).
 * A file that cannot be read or parsed, or a context or cluster it does not define, is a PluginError
 * naming the file, rather than a stack trace from the client library.
 */
export function loadKubeConfig(given: ClusterOptions): KubeConfig {
  // `--kubeconfig=""` and `--context=""` (an unset variable in `--context="$CTX"`) are not given, as
  // kubectl's loading rules read an empty explicit path or context override.
  const options = { kubeconfig: given.kubeconfig || undefined, context: given.context || undefined };
  const config = new KubeConfig();
  config.addAuthenticator(tokenFileAuthenticator());
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
    if (options.kubeconfig !== undefined) loadFile(config, options.kubeconfig);
    else if (fromEnvironment) loadMerged(config, process.env.KUBECONFIG!);
    // ~/.kube/config read as any other file (its token-file re-read, its relative paths resolved);
    // without it, the client library reads the pod's service account.
    else if (existsSync(defaultFile)) loadFile(config, defaultFile);
    else config.loadFromDefault();
  } catch (error) {
    if (error instanceof PluginError) throw error;
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
  // kubectl says "current-context is not set"; the client library's context is then undefined.
  if (!config.getCurrentContext()) {
    const names = config.getContexts().map((context) => context.name);
    throw new PluginError(
      names.length === 0
        ? `the kubeconfig ${source} sets no current-context and has no contexts`
        : `the kubeconfig ${source} sets no current-context: pass --context NAME (it has: ${names.join(", ")})`,
    );
  }
  if (config.getCurrentCluster() === null)
    throw new PluginError(
      `the kubeconfig ${source} names no cluster for context "${config.getCurrentContext()}"`,
    );
  const tokenFileFailure = unreadableTokenFile(config);
  if (tokenFileFailure !== undefined) throw new PluginError(`${tokenFileFailure} (kubeconfig ${source})`);
  const user = config.getCurrentUser();
  const unsendable = user === null ? undefined : unsendableImpersonation.get(user);
  if (unsendable !== undefined)
    throw new PluginError(
      `user "${user!.name}" of the kubeconfig ${source} impersonates with ${unsendable.join(", ")}, which kubectl jude cannot send (it sends only \`as\`): use a context whose user has the rights itself`,
    );
  return config;
}

/**
 * The impersonation fields of a kubeconfig user other than `as` (kubectl sends them as
 * Impersonate-Group, -Uid and -Extra-* headers; the client library drops them, and fetch cannot send
 * a header twice, as several groups need): acting as `as` alone would be another identity than
 * kubectl's, so a user that sets them is refused.
 */
const unsendableImpersonation = new WeakMap<User, string[]>();

/** The kubeconfig's user as a refusal names it: with `as`, also the identity it acts as. */
export function userDescription(user: User | null): string {
  if (user === null) return "the current user";
  return user.impersonateUser ? `${user.name} (acting as ${user.impersonateUser})` : user.name;
}

/**
 * The files of $KUBECONFIG merged as kubectl merges them: a file that does not exist is skipped, and
 * the first file to set a value wins (current-context, and each cluster, user and context by name);
 * relative certificate and key paths are resolved against their own file's folder.
 * The client library's own merge failed on a missing file and on a name two files share, and took the
 * last file's current-context.
 */
function loadMerged(config: KubeConfig, list: string): void {
  const files = [...new Set(list.split(delimiter).filter((file) => file !== ""))];
  const present = files.filter((file) => existsSync(file));
  if (present.length === 0)
    throw new PluginError(
      `no kubeconfig: none of the files in KUBECONFIG exist (${list}); pass --kubeconfig FILE or set KUBECONFIG`,
    );
  const firstByName = <T extends { name: string }>(lists: T[][]): T[] => {
    const byName = new Map<string, T>();
    for (const item of lists.flat()) if (!byName.has(item.name)) byName.set(item.name, item);
    return [...byName.values()];
  };
  // An empty file is an empty config, as kubectl reads it; one that cannot be read or parsed fails the
  // command, as in kubectl, naming that file rather than the whole list.
  const loaded = present.flatMap((file) => {
    const each = new KubeConfig();
    try {
      if (readFileSync(file, "utf8").trim() === "") return [];
      loadFile(each, file);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new PluginError(`cannot load the kubeconfig ${file} (in KUBECONFIG): ${reason}`);
    }
    return [each];
  });
  config.loadFromOptions({
    clusters: firstByName(loaded.map((each) => each.getClusters())),
    users: firstByName(loaded.map((each) => each.getUsers())),
    contexts: firstByName(loaded.map((each) => each.getContexts())),
    currentContext: loaded.map((each) => each.getCurrentContext()).find((name) => name) ?? "",
  });
}

/**
 * One kubeconfig file with its file references read against the file's own folder, as kubectl reads
 * them: certificate-authority, client-certificate, client-key, token-file, and an exec command given
 * as a path (one without a separator is looked up on PATH). The client library resolved only the
 * first three, and read token-file (at parse time) and ran the exec command from the current directory.
 */
function loadFile(config: KubeConfig, file: string): void {
  const folder = dirname(resolve(file));
  const document = loadYaml<Record<string, unknown> | null>(readFileSync(file, "utf8")) ?? {};
  const absolute = (entry: unknown, key: string, onlyPaths = false): void => {
    if (typeof entry !== "object" || entry === null) return;
    const holder = entry as Record<string, unknown>;
    const value = holder[key];
    if (typeof value !== "string" || value === "" || isAbsolute(value)) return;
    if (onlyPaths && !value.includes(sep)) return;
    holder[key] = join(folder, value);
  };
  const entries = (list: unknown, field: string): unknown[] =>
    Array.isArray(list) ? list.map((item) => (item as Record<string, unknown> | null)?.[field]) : [];
  for (const cluster of entries(document.clusters, "cluster")) absolute(cluster, "certificate-authority");
  for (const user of entries(document.users, "user")) {
    for (const key of ["client-certificate", "client-key", "token-file"]) absolute(user, key);
    absolute((user as { exec?: unknown } | null)?.exec, "command", true);
    readTokenFileEachRequest(user);
  }
  config.loadFromString(JSON.stringify(document));
  for (const entry of Array.isArray(document.users) ? document.users : []) {
    const { name, user } = (entry ?? {}) as { name?: unknown; user?: Record<string, unknown> | null };
    // What kubectl would send: a header per group and per value of each extra key (a key without
    // values sends none), and the uid when it is not empty.
    const sends = (value: unknown): boolean =>
      Array.isArray(value) || typeof value === "string"
        ? value.length > 0
        : typeof value === "object" && value !== null && Object.values(value).some(sends);
    const set = ["as-groups", "as-uid", "as-user-extra"].filter((key) => sends(user?.[key]));
    const loaded = config.getUsers().find((each) => each.name === name);
    if (set.length > 0 && loaded !== undefined) unsendableImpersonation.set(loaded, set);
  }
}

/** The auth-provider a kubeconfig user's token-file is turned into (see readTokenFileEachRequest). */
const tokenFileProvider = "kubectl-jude-token-file";

/**
 * A user's token-file, read for every request as kubectl reads it, not once at load as the client
 * library does: a projected service-account token (or any token a tool renews in place) rotates while
 * the dashboard runs. The user gets an auth-provider that only tokenFileAuthenticator answers; a token
 * written in the kubeconfig takes precedence over the file, as in kubectl, and another auth-provider is
 * left to the library. The file is read here once too: the current user's missing one fails at load,
 * as in kubectl (another user's fails nothing). An exec plugin the same user names is not run:
 * kubectl runs none for a user with a token or token-file (and the library tries its exec
 * authenticator before any added one, so it would win).
 */
function readTokenFileEachRequest(user: unknown): void {
  if (typeof user !== "object" || user === null) return;
  const fields = user as Record<string, unknown>;
  const file = fields["token-file"];
  if (typeof file !== "string" || file === "" || fields.token !== undefined) return;
  if (fields["auth-provider"] !== undefined) return;
  // Read now for the current user's check (unreadableTokenFile); another user's missing file fails
  // nothing, as in kubectl, which reads only the file of the user it uses.
  let read: { token: string } | { unreadable: string };
  try {
    read = { token: readFileSync(file, "utf8").trim() };
  } catch (error) {
    read = { unreadable: error instanceof Error ? error.message : String(error) };
  }
  delete fields["token-file"];
  delete fields.exec;
  fields["auth-provider"] = { name: tokenFileProvider, config: { file, ...read } };
}

/** Why the current user's token-file could not be read at load, if it could not (see readTokenFileEachRequest). */
function unreadableTokenFile(config: KubeConfig): string | undefined {
  const user = config.getCurrentUser();
  if (user?.authProvider?.name !== tokenFileProvider) return undefined;
  const { file, unreadable } = user.authProvider.config as { file: string; unreadable?: string };
  return unreadable === undefined
    ? undefined
    : `cannot read the token-file ${file} of user "${user.name}": ${unreadable}`;
}

/**
 * Sends the token its user's file holds now; when the file cannot be read at that moment (replaced
 * between a delete and a write), the token read last, as client-go does.
 */
function tokenFileAuthenticator(): Parameters<KubeConfig["addAuthenticator"]>[0] {
  const lastRead = new Map<string, string>();
  return {
    isAuthProvider: (user: User) => user.authProvider?.name === tokenFileProvider,
    applyAuthentication: async (user, opts) => {
      const { file, token } = (user.authProvider as { config: { file: string; token?: string } }).config;
      let current = lastRead.get(file) ?? token ?? "";
      try {
        current = readFileSync(file, "utf8").trim();
        lastRead.set(file, current);
      } catch {
        // Keep the token read last.
      }
      opts.headers = { ...opts.headers, authorization: `Bearer ${current}` };
    },
  };
}

/** Tries of one API call the API server keeps asking to retry (client-go's limit). */
export const retryAttempts = 10;

/**
 * How long the API server asked to wait before trying `error`'s call again (its Retry-After), or
 * undefined when it is not to be retried: only 429, and a 5xx that carries Retry-After, are.
 */
export function retryDelayMs(error: unknown): number | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const code = error.code;
  const header = Object.entries((error.headers ?? {}) as Record<string, string>).find(
    ([name]) => name.toLowerCase() === "retry-after",
  )?.[1];
  const seconds = header === undefined ? Number.NaN : Number(header);
  if (code === 429) return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 1000;
  if (code >= 500 && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  return undefined;
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

/**
 * What a 403 of RBAC says: who may not do what, where, and the role that grants it. Kubernetes' view
 * reads ConfigMaps and Events; the chart's userRoles add reading the JUDE kinds (and Events) to view
 * and changing them to edit, and its `jude-operator-view` ClusterRole bound alone reads Events too (the
 * README's release: `<release>-view` where the release name contains `jude-operator`,
 * `<release>-jude-operator-view` where it does not).
 */
export function accessDenied(call: Pick<CallContext, "verb" | "kind" | "namespace" | "user">): string {
  const judePlural = plurals[call.kind];
  const resource = judePlural === undefined ? `${call.kind.toLowerCase()}s` : `${judePlural}.jude.dev`;
  // Without a namespace (-A) the request is one cluster-wide list or watch: refused, the user may still
  // read some namespaces (RoleBindings there), so "in any namespace" would say more than was refused.
  const where = call.namespace === undefined ? "in all namespaces at once" : `in namespace ${call.namespace}`;
  const role =
    judePlural === undefined
      ? call.kind === "Event"
        ? "Kubernetes' view role or the chart's jude-operator-view ClusterRole"
        : "Kubernetes' view role"
      : `Kubernetes' ${["get", "list", "watch"].includes(call.verb) ? "view" : "edit"} role with the chart's userRoles`;
  return `access denied: ${call.user} may not ${call.verb} ${resource} ${where} (${
    call.namespace === undefined
      ? `-A is one cluster-wide request, which a RoleBinding in some namespaces does not grant: bind a ClusterRole such as ${role} with a ClusterRoleBinding, or name one namespace with -n`
      : `ask for a Role that grants it, such as ${role}`
  })`;
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
  const answer = { status: code, apiMessage: code === undefined ? undefined : statusMessage(error) };
  if (code === 404 && call.name === undefined && judePlural !== undefined)
    return new ApiFailure(
      `the JUDE resources (${resource}) are not installed in this cluster: install the operator with its CRDs (helm install jude-operator charts/jude-operator)`,
      answer,
    );
  if (code === 404 && call.name !== undefined)
    return new NotFound(`${call.kind} ${call.name} not found ${where}`);
  // 401 is about who the user is (a token or certificate the server does not accept), not what a
  // Role grants: asking for a Role would send the user the wrong way.
  if (code === 401)
    return new ApiFailure(
      `the cluster (${call.server}) does not accept the credentials of ${call.user} (401 Unauthorized): the token or certificate in the kubeconfig is invalid or expired; log in again`,
      answer,
    );
  // An admission webhook's or ValidatingAdmissionPolicy's refusal is a 403 too, of a user whose role
  // grants the call: it falls through to quoting the API server, which says what the policy wants.
  if (code === 403 && !admissionDenied(answer.apiMessage)) return new ApiFailure(accessDenied(call), answer);
  if (code !== undefined) {
    const message = answer.apiMessage;
    return new ApiFailure(
      `cannot ${call.verb} ${plural} ${where}: HTTP ${code}${message === undefined ? "" : ` (${message})`}`,
      answer,
    );
  }
  const timeout = causes(error).find((cause) => cause instanceof RequestTimeout);
  if (timeout !== undefined)
    return new ApiFailure(
      `the cluster (${call.server}) did not answer within ${formatDuration(timeout.timeoutMs)} (--request-timeout); check that the API server is up and reachable`,
      { timedOut: true },
    );
  return new ApiFailure(`cannot reach the cluster (${call.server}): ${connectionFailure(error)}`);
}

/** An error and the chain of its causes. */
function causes(error: unknown): unknown[] {
  const chain = [error];
  for (let depth = 0; depth < 8; depth += 1) {
    const cause = (chain.at(-1) as { cause?: unknown } | undefined)?.cause;
    if (cause === undefined || cause === null) break;
    chain.push(cause);
  }
  return chain;
}

/** The message of the Kubernetes Status an API error carries, if any. */
/**
 * Whether a 403's message is admission control's refusal rather than RBAC's: the API server words
 * a webhook's as `admission webhook "…" denied the request: …` and a ValidatingAdmissionPolicy's as
 * `… ValidatingAdmissionPolicy '…' with binding '…' denied request: …`.
 */
function admissionDenied(message: string | undefined): boolean {
  return (
    message !== undefined &&
    (/admission webhook ".*" denied the request/.test(message) ||
      /ValidatingAdmissionPolicy '.*' with binding '.*' denied request/.test(message))
  );
}

function statusMessage(error: unknown): string | undefined {
  let body = (error as { body?: unknown }).body;
  if (typeof body === "string")
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === "string" && message !== "" ? message : undefined;
}

const tlsTrustCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Why a request never got an answer: the innermost cause (fetch reports every failure as "fetch
 * failed" and keeps the reason — refused, unknown host, untrusted certificate — in `cause`).
 */
export function connectionFailure(error: unknown): string {
  let innermost = error;
  for (let depth = 0; depth < 8; depth += 1) {
    const cause = (innermost as { cause?: unknown } | undefined)?.cause;
    if (cause === undefined || cause === null) break;
    innermost = cause;
  }
  const code = (innermost as { code?: unknown } | undefined)?.code;
  // Node's own advice about its CA store ("try running Node.js with --use-system-ca") does not apply:
  // the plugin trusts the kubeconfig's certificate-authority.
  const message = (innermost instanceof Error ? innermost.message : String(innermost)).split(";")[0]!;
  // undici's own limit (5 min) on a server that accepted the request and never answered it.
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT")
    return `the API server accepted the connection but sent no answer (${code}); pass --request-timeout 30s to give up sooner`;
  if (typeof code === "string" && tlsTrustCodes.has(code))
    return `the server's TLS certificate is not trusted: ${message} (${code}); check the cluster's certificate-authority in the kubeconfig`;
  return message;
}
