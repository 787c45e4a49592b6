// The controller runtime's API: what a controller declares (ControllerDefinition) and what its
// reconcile function is given (ReconcileContext). Controllers import these as types only, so at run
// time the dependency still points one way: crds <- controllers <- operator.
import type { Logger } from "../../plumbing/logger.ts";
import type { ResourceType } from "./resource-types.ts";

/** Any Kubernetes object as read from or sent to the API server. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** The metadata fields the runtime reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  deletionTimestamp?: string | Date;
  creationTimestamp?: string | Date;
  [field: string]: unknown;
}

/** Identifies one object; `namespace` is "" for cluster-scoped objects. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

/** Reads from the informer caches: no API request, eventually consistent, never mutate the result. */
export interface CacheReader {
  /** The cached object, or undefined when it does not exist (or is outside the watch scope). */
  get<T extends KubeObject = KubeObject>(type: ResourceType, key: ObjectKey): T | undefined;
  /** Cached objects of a type, optionally in one namespace and matching every label given. */
  list<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options?: { namespace?: string; labels?: Record<string, string> },
  ): T[];
}

/** Options of a server-side apply. */
export interface ApplyOptions {
  /**
   * Take ownership of fields another manager owns instead of failing with a conflict. Only where the
   * controller is documented as the sole owner of those fields (say why at the call site).
   */
  force?: boolean;
  /**
   * Apply under this field manager instead of the controller's own. Only to hand a field over to
   * another controller (Kubernetes' "transferring ownership"): a second manager holding the value
   * keeps the field when the controller's own apply stops setting it, instead of it being reset.
   */
  fieldManager?: string;
}

/** API writes of one controller; every write carries that controller's field manager. */
export interface ControllerClient {
  /** The field manager of this controller's applies (`jude-<controller>`). */
  readonly fieldManager: string;
  /**
   * Server-side apply of a fully specified object; returns the object the server stored. An apply
   * that would change nothing (the same body as this client's last apply, object unchanged since) is
   * skipped and answers the cached copy, which the cache may have trimmed (cache-transforms.ts).
   */
  apply<T extends object>(object: T, options?: ApplyOptions): Promise<T>;
  /**
   * Server-side apply of `status` through the /status subresource. Pass apiVersion, kind, metadata
   * (name, namespace) and the complete status this controller owns. Skips the request when the cached
   * object already carries exactly this status (so writing status cannot cause a reconcile loop).
   */
  applyStatus<T extends object>(object: T): Promise<void>;
  /**
   * Deletes an object; a missing object is not an error. Background propagation. Resolves to whether
   * this call deleted it (false: it was gone already, e.g. deleted by a reconcile the cache lags behind).
   */
  delete(type: ResourceType, key: ObjectKey): Promise<boolean>;
  /** A live (uncached) read, for kinds the operator does not watch (Secrets, PVCs): undefined on 404. */
  getLive<T extends KubeObject = KubeObject>(type: ResourceType, key: ObjectKey): Promise<T | undefined>;
  /**
   * A live (uncached) list of one namespace's objects of a kind the operator does not watch (Events),
   * narrowed by a field selector (`involvedObject.uid=...,reason=FailedCreate`).
   */
  listLive<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string,
    fieldSelector: string,
  ): Promise<T[]>;
}

/** Records Kubernetes Events on an object (aggregated: a repeat bumps the count). */
export interface EventRecorder {
  normal(object: KubeObject, reason: string, message: string): void;
  warning(object: KubeObject, reason: string, message: string): void;
}

/** Everything one reconcile of one key is given. */
export interface ReconcileContext {
  /** The primary object to reconcile; read it from `cache` (it may have been deleted). */
  key: ObjectKey;
  cache: CacheReader;
  client: ControllerClient;
  events: EventRecorder;
  /** A child logger bound to controller, namespace and name. */
  log: Logger;
  /** Aborted when the operator shuts down or loses leadership; pass it to long waits. */
  signal: AbortSignal;
  /**
   * Throws unless this replica still holds the leader Lease. API writes through `client` are checked
   * already; call it right before a write elsewhere (the store's pointer, its GC, its owner), so a
   * replica resumed after a stop longer than its Lease does not act on what it decided before.
   */
  fence?: () => void;
}

/** What a reconcile asks for next; returning nothing means "done until something changes". */
export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (polling something not watched). */
  requeueAfterMs?: number;
}

/** The function a controller implements: read (cache), decide (pure functions), apply. */
export type Reconcile = (context: ReconcileContext) => Promise<ReconcileResult | void>;

/** A reconcile that has failed on every try for a while (operator/runtime/failure-streaks.ts). */
export interface ReconcileFailure {
  /** What the last try threw. */
  error: unknown;
  /** When the first failure of the streak happened (ms since the epoch). */
  sinceMs: number;
  /** Consecutive failures so far. */
  failures: number;
  /**
   * False for the first failure of a streak, reported at once (usually transient: it is being
   * retried); true once the key has failed on every try for the failure policy's time.
   */
  persistent: boolean;
}

/** Maps a watched object to the primary keys to reconcile. */
export type KeyMapper = (object: KubeObject, cache: CacheReader) => ObjectKey[];

/** A controller as registered with the manager. */
export interface ControllerDefinition {
  /** Short kebab-case name: metrics label, log binding and field manager suffix. */
  name: string;
  /** The resource this controller reconciles; each of its events enqueues its own key. */
  primary: ResourceType;
  /**
   * Children this controller creates with a controller owner reference to the primary; their events
   * enqueue the owner. Their informers only hold objects labelled managed-by=jude-operator.
   */
  owns?: ResourceType[];
  /**
   * Other resources whose events map to primary keys (e.g. the EmbeddingModel of a pipeline).
   * `managedOnly` when the controller only needs objects labelled managed-by=jude-operator (pods the
   * operator's workloads made): without it the informer holds every object of the type in the watched
   * namespaces, which for pods is the whole cluster's.
   */
  watches?: { type: ResourceType; map: KeyMapper; managedOnly?: boolean }[];
  /**
   * Resources the reconcile reads from the cache whose events need not wake it (`managedOnly` as in
   * `watches`). A reconcile may read only its primary, owns, watches and reads (any other type throws),
   * and a key waits only for these types' informers to list, naming only them when it says why.
   */
  reads?: { type: ResourceType; managedOnly?: boolean }[];
  /** Keys reconciled in parallel (distinct keys only; one key never runs twice at once). Default 4. */
  concurrency?: number;
  reconcile: Reconcile;
  /**
   * Shows a failure on the primary object (its conditions; a Warning Event once persistent). The
   * runtime calls it at the first failure of a streak (`persistent` false), then once the key's
   * reconciles have failed on every try for a while, then at most once per that period while they
   * keep failing; the next successful reconcile writes the controller's own
   * status again. Without it a persistent failure is only logged and retried.
   */
  reportFailure?: (context: ReconcileContext, failure: ReconcileFailure) => Promise<void>;
  /**
   * Shows on the primary object that it is not reconciled because an informer its reconcile reads from
   * could not list (the operator's RBAC refuses it in that namespace, or cluster-wide): `cause` names
   * the resource, the namespace and the API server's answer, in one bounded line. The runtime calls it
   * once per cause while the key waits (not on each retry), at once when the list was refused for
   * permissions and otherwise once the wait lasted as long as a failure takes to be reported; the
   * first reconcile after the list succeeded writes the controller's own status again. Resolves false
   * for an object the lists do not hold back (a finished BootstrapRun): told nothing, it is not counted
   * in jude_operator_reconcile_failing either.
   */
  reportNotSynced?: (context: ReconcileContext, cause: string) => Promise<boolean | void>;
  /**
   * Releases what the reconciles keep open between passes (store connections), once, at shutdown
   * after they stopped: an open socket would keep the process alive after "operator stopped".
   */
  close?: () => void | Promise<void>;
}
