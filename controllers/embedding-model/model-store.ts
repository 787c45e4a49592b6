// The store a model's versions live in, reached the way its writers reach it: through the store Secret
// that its NearlinePipelines reference (all pipelines of a model name one store; the pipeline
// controller stalls any that disagree). Connections are kept per URL and store name across
// reconciles, shared by the models that use them, and closed once no model does (the last one was
// deleted, lost its pipelines or its store Secret, or moved to another URL or store) or when the
// operator stops.
import type { NearlinePipeline } from "../../crds/index.ts";
import { OwnerDeleted } from "../../operator/runtime/controller-client.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import type { Registry } from "prom-client";
import {
  connectRedis,
  createStoreMetrics,
  defaultPrefix,
  listVersions,
  openStore,
  readPointer,
  type RedisClient,
  type RedisTarget,
  type Store,
  type StoreMetrics,
} from "../../store/index.ts";
import { oldestPipelineFirst } from "../shared/pipeline-age.ts";
import {
  operatorClusterConnectAttempts,
  storeTarget,
  targetDatabase,
  targetEndpoint,
} from "../shared/store-target.ts";
import type { StoreObservation } from "./promotion.ts";

/** Longest one store command may take before the reconcile fails and is retried with back-off. */
const commandTimeoutMs = 10_000;

interface StoreEntry {
  client: RedisClient;
  store: Promise<Store>;
  /** `store "name" at redis://host:port`, without the URL's credentials. */
  where: string;
  /** The Redis database it is in, without credentials (store-target.ts targetDatabase). */
  database: string;
  /** The connection's last error since it was last ready (refused, reset, timed out). */
  connection: { error?: Error | undefined };
}

const metricsByRegistry = new WeakMap<Registry, StoreMetrics>();

/** The store metrics on `registry`, created once per registry (several controllers may share one). */
function storeMetricsOn(registry: Registry): StoreMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (metrics === undefined) {
    metrics = createStoreMetrics(registry);
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/** Open store connections, shared by the reconciles of one controller. */
export class ModelStores {
  readonly #stores = new Map<string, StoreEntry>();
  readonly #entries = new WeakMap<Store, StoreEntry>();
  /** The key of the store each model (namespace/name) last opened. */
  readonly #users = new Map<string, string>();
  readonly #metrics: StoreMetrics | undefined;

  /**
   * `registry`: where the stores' jude_store_* metrics go (the operator's). The operator is the only
   * process that flips pointers and collects versions, so without it those counters reach no scrape.
   */
  constructor(registry?: Registry) {
    this.#metrics = registry === undefined ? undefined : storeMetricsOn(registry);
  }

  /**
   * The store `name` at `url` (with `cluster`, the Redis Cluster whose seed nodes `url` lists as
   * host:port,host:port, as spec.sinks.store.cluster says), connected once. Throws INVALID_ARGUMENT when
   * `url` is neither a store URL nor, with `cluster`, a seed list. While its kept connection is down (it failed and has not
   * been ready since; ioredis reconnects in the background), this rejects at once naming the store and
   * the connection's error: a reconcile must not spend seconds per command waiting out reconnects to a
   * dead Redis, holding a worker that models on healthy stores are queued behind.
   */
  open(url: string, name: string, cluster = false, user?: string): Promise<Store> {
    const key = `${name}\u0000${cluster ? "cluster" : "url"}\u0000${url}`;
    if (user !== undefined) {
      // The model's previous store (its Secret now names another URL, its pipelines another store):
      // closed unless another model still uses it. A model's reconciles never overlap, so nothing of
      // this model still uses it.
      const previous = this.#users.get(user);
      this.#users.set(user, key);
      if (previous !== undefined && previous !== key) this.#closeUnused(previous);
    }
    let entry = this.#stores.get(key);
    if (entry?.client.status === "end") {
      // Closed for good (ioredis no longer reconnects): start over.
      this.#stores.delete(key);
      entry = undefined;
    }
    if (entry !== undefined && entry.connection.error !== undefined && entry.client.status !== "ready")
      return Promise.reject(new Error(`${entry.where} is unreachable`, { cause: entry.connection.error }));
    if (entry === undefined) {
      let target: RedisTarget;
      try {
        target = storeTarget(url, cluster);
      } catch (error) {
        return Promise.reject(error as Error);
      }
      const where = `store "${name}" at ${targetEndpoint(target)}`;
      const connection: StoreEntry["connection"] = {};
      const client = connectRedis(target, {
        connectionName: "jude-operator-promotion",
        commandTimeoutMs,
        clusterConnectAttempts: operatorClusterConnectAttempts,
        maxRetriesPerRequest: 1,
        onConnectionError: (error) => (connection.error = error),
      });
      client.on("ready", () => (connection.error = undefined));
      // A failed open is forgotten so the next reconcile connects again; its error names the store
      // and the connection's own error (ioredis' says only that it gave up retrying).
      const store = openStore(client, {
        prefix: defaultPrefix(name),
        create: true,
        ...(this.#metrics !== undefined ? { metrics: this.#metrics } : {}),
      }).catch((error: unknown) => {
        // Forgotten only if it is still this open's entry (a release and a new open may have replaced it).
        if (this.#stores.get(key)?.client === client) this.#stores.delete(key);
        client.disconnect();
        throw connection.error === undefined
          ? error
          : new Error(`${where} is unreachable`, { cause: connection.error });
      });
      entry = { client, store, where, database: targetDatabase(target), connection };
      const opened = entry;
      store.then((value) => this.#entries.set(value, opened)).catch(() => undefined);
      this.#stores.set(key, entry);
    }
    return entry.store;
  }

  /**
   * The error to report for a reconcile that failed while using `store`: while the store's connection
   * is failing, that failure (naming the store and its endpoint) rather than the command's own error.
   */
  explain(store: Store | undefined, error: unknown): unknown {
    // Not a failure (the controller settles it): wrapped, it would be retried and reported as one.
    if (error instanceof OwnerDeleted) return error;
    const entry = store === undefined ? undefined : this.#entries.get(store);
    if (entry?.connection.error === undefined) return error;
    return new Error(`${entry.where} is unreachable`, { cause: entry.connection.error });
  }

  /** The Redis database `store` is in (targetDatabase), once it is open. */
  databaseOf(store: Store): string | undefined {
    return this.#entries.get(store)?.database;
  }

  /**
   * The model `user` (namespace/name) uses no store any more (deleted, without pipelines, or its store
   * Secret or key is gone): its store's connection is closed unless another model still uses it.
   * Without this, every store the operator ever opened would stay connected for its lifetime, and one
   * whose Redis was shut down would be reconnected to every 2 s, forever.
   */
  release(user: string): void {
    const key = this.#users.get(user);
    if (key === undefined) return;
    this.#users.delete(user);
    this.#closeUnused(key);
  }

  #closeUnused(key: string): void {
    for (const used of this.#users.values()) if (used === key) return;
    const entry = this.#stores.get(key);
    if (entry === undefined) return;
    this.#stores.delete(key);
    entry.client.disconnect();
  }

  /** Disconnects every store. */
  close(): void {
    for (const entry of this.#stores.values()) entry.client.disconnect();
    this.#stores.clear();
  }
}

/** The scheme, host and port of a store URL: never its user name or password. */
export function endpointOf(url: string): string {
  return targetEndpoint({ url });
}

/**
 * The pipelines naming `modelName` in `namespace` (the reconciled model's by default), oldest first:
 * the first one's store is the model's, as the pipeline controller decides (it stalls any newer
 * pipeline naming another store and keeps the oldest one's workers writing).
 */
export function pipelinesOfModel(
  context: ReconcileContext,
  modelName: string,
  namespace: string = context.key.namespace,
): NearlinePipeline[] {
  return context.cache
    .list<NearlinePipeline & { metadata: { name: string } }>(resourceTypes.nearlinePipeline, { namespace })
    .filter((pipeline) => pipeline.spec?.modelRef?.name === modelName)
    .sort(oldestPipelineFirst);
}

/** The store URL's Secret, or its key, does not exist: the user has to act; retrying will not help. */
export class StoreSecretMissing extends Error {
  readonly reason: "SecretNotFound" | "SecretKeyNotFound";

  constructor(reason: "SecretNotFound" | "SecretKeyNotFound", message: string) {
    super(message);
    this.name = "StoreSecretMissing";
    this.reason = reason;
  }
}

/**
 * Opens the store the pipelines write to (the oldest pipeline's, as pipelinesOfModel orders them). Throws
 * StoreSecretMissing when the URL's Secret or key does not exist.
 */
export async function openModelStore(
  context: ReconcileContext,
  stores: ModelStores,
  pipelines: readonly NearlinePipeline[],
): Promise<Store | undefined> {
  const [pipeline] = pipelines;
  const user = `${context.key.namespace}/${context.key.name}`;
  if (pipeline === undefined) {
    stores.release(user);
    return undefined;
  }
  const { name, urlSecretRef, cluster } = pipeline.spec.sinks.store;
  const secret = await context.client.getLive(resourceTypes.secret, {
    namespace: context.key.namespace,
    name: urlSecretRef.name,
  });
  const field = `spec.sinks.store.urlSecretRef of NearlinePipeline ${pipeline.metadata.name}`;
  const encoded = (secret?.data as Record<string, string> | undefined)?.[urlSecretRef.key];
  if (encoded === undefined) {
    // Without its Secret the model uses no store (it reports this and waits for the Secret): the
    // connection to the URL the Secret used to name is closed unless another model uses it.
    stores.release(user);
    if (secret === undefined)
      throw new StoreSecretMissing("SecretNotFound", `Secret ${urlSecretRef.name} (${field}) does not exist`);
    throw new StoreSecretMissing(
      "SecretKeyNotFound",
      `Secret ${urlSecretRef.name} has no key ${urlSecretRef.key} (${field})`,
    );
  }
  return stores.open(Buffer.from(encoded, "base64").toString("utf8"), name, cluster === true, user);
}

/** The pointer (with the kind of its last change) and the registry of the store `name`. */
export async function observeStore(store: Store, name: string): Promise<StoreObservation> {
  const [pointer, kind, versions] = await Promise.all([
    readPointer(store),
    store.client.hget(store.keys.pointer, "kind"),
    listVersions(store),
  ]);
  return {
    name,
    current: pointer.current,
    backup: pointer.backup,
    kind: kind === "flip" || kind === "rollback" ? kind : undefined,
    flippedAtMs: pointer.flippedAtMs,
    epoch: pointer.epoch,
    versions: Object.fromEntries(versions.map((info) => [info.version, info.state])),
    digests: Object.fromEntries(versions.map((info) => [info.version, info.modelDigest])),
    prompts: Object.fromEntries(
      versions.flatMap((info) => (info.prompts !== undefined ? [[info.version, info.prompts]] : [])),
    ),
    vectorSettings: Object.fromEntries(
      versions.flatMap((info) =>
        info.vectorSettings !== undefined ? [[info.version, info.vectorSettings]] : [],
      ),
    ),
  };
}
