// What the dashboard page shows, computed from the watched objects alone (pure, so it is tested without
// a cluster or a browser). It extends the `kubectl jude status` view with every promotion condition,
// the timeline, pipeline throughput and the actions the page may offer.
import type { VersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import type { Condition, EmbeddingModel, NearlinePipeline } from "../../../crds/index.ts";
import { approve, rollback } from "../actions.ts";
import type { JudeObjects } from "../cluster.ts";
import {
  gateTypes,
  statusView,
  unattachedPipelines,
  type BootstrapView,
  type ModelView,
  type PipelineView,
  type UnattachedPipelineView,
} from "../status-view.ts";
import type { ApiProblem } from "./api-health.ts";
import { buildTimeline, type KubeEvent, type TimelineEntry } from "./timeline.ts";

/** The gates, then the outcome conditions of a promotion (DESIGN section 4). */
export const promotionConditionTypes = [...gateTypes, "Promoted", "RolledBack", "Stalled"];

export interface ConditionView {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  /** The measured value, as the operator wrote it ("coverage 0.95 < 0.99"). */
  message: string;
  lastTransitionTime?: string;
  /** Whether this status is good news: Stalled=False is, RolledBack is neither; Unknown is pending. */
  verdict: "good" | "bad" | "neutral" | "pending";
  /**
   * How the page names it: the type, or "not Stalled" for a False condition whose True is bad news,
   * which beside a ✓ under its own name read as a stall confirmed.
   */
  label: string;
  /**
   * What the page shows beside it: the message, else the reason, else a dash; nothing for a "not
   * Stalled", whose message is the Ready verdict's (the operator writes it on all three kstatus
   * conditions), said in the model's own message line.
   */
  detail: string;
}

export interface PipelineVersionView {
  version: string;
  readyReplicas?: number;
  lag?: number;
  processed?: number;
  embedded?: number;
  skippedUnchanged?: number;
  deleted?: number;
  deadLettered?: number;
  freshnessP95Ms?: number;
  /** Events per second, derived from how `processed` moved (undefined until measured). */
  throughput?: number;
}

export interface DashboardPipeline {
  name: string;
  entity: string;
  ready: string;
  /** Why the pipeline is not Ready (its Stalled, else its Ready condition's message); absent when Ready. */
  message?: string;
  versions: PipelineVersionView[];
}

export interface DashboardBootstrap extends BootstrapView {
  embedded?: number;
  deduplicated?: number;
  failed?: number;
}

/** An action the page offers: what it would do (shown in the confirmation), or why it cannot. */
/** An action the page offers (`abandons`: the candidate a rollback abandons), or why it does not. */
export type ActionView =
  { version: string; summary: string; abandons?: string; warning?: string } | { refused: string };

export interface DashboardModel extends Omit<ModelView, "gates" | "pipelines" | "bootstraps"> {
  conditions: ConditionView[];
  pipelines: DashboardPipeline[];
  bootstraps: DashboardBootstrap[];
  timeline: Array<TimelineEntry & { verdict: ConditionView["verdict"] }>;
  actions: { approve: ActionView; rollback: ActionView };
  /**
   * Why whether the user may change this model could not be checked (the SelfSubjectAccessReview
   * failed, was refused or got no answer in time): the actions stay enabled and the page says so.
   */
  permissionNote?: string;
  /**
   * Why whether the user may change this model is not known yet (its SelfSubjectAccessReview has not
   * answered): the page shows the actions disabled, "checking permission…", until it answers.
   */
  permissionChecking?: string;
}

export interface DashboardState {
  /** The namespace watched, or undefined for all. */
  namespace?: string;
  generatedAt: string;
  /**
   * Set while the watches of the JUDE kinds fail (the API server gone, or watch not allowed): the
   * models are then what they last received, not live (the watches retry with back-off and clear
   * this once they get through).
   */
  apiServer?: ApiProblem;
  /**
   * Why Events cannot be listed or watched (a 403 names the user and the role that grants them): the
   * timelines then show condition transitions only, and say so.
   */
  eventsProblem?: string;
  models: DashboardModel[];
  /**
   * The NearlinePipelines whose `spec.modelRef` names no EmbeddingModel of their namespace (a typo, a
   * model deleted): Stalled, and on no model's card; listed after the models, as `kubectl jude status`
   * lists them.
   */
  unattachedPipelines: UnattachedPipelineView[];
}

/** A version record (what the operator kept of a version's model and prompts) and its model. */
export interface OwnedVersionRecord {
  namespace: string;
  model: string;
  record: VersionRecord;
}

/** Everything the dashboard watches. */
export interface WatchedObjects extends JudeObjects {
  events: KubeEvent[];
  /** Needed to offer a rollback: it restores the recorded model and prompts with the version. */
  versionRecords?: OwnedVersionRecord[];
}

/** Key of a pipeline version's throughput: namespace/pipeline/version. */
export const throughputKey = (namespace: string, pipeline: string, version: string): string =>
  `${namespace}/${pipeline}/${version}`;

/** Conditions whose True is bad news (kstatus abnormal-true), and those that are only informative. */
const abnormalTrue = new Set(["Stalled", "Failed"]);
const informative = new Set(["RolledBack", "Reconciling"]);

/**
 * Reasons the operator gives a promotion gate (or Promoted) that is False because it has not been
 * reached yet, as opposed to failed (BootstrapFailed, ParityFailed, ProgressDeadlineExceeded, a pod
 * failure, Failed): controllers/embedding-model/promotion-gates.ts, candidate-gates.ts (Waiting: a gate
 * not measured until the one before it opens), version-status.ts and promotion-verdict.ts. Pods the
 * scheduler cannot place or the API server refuses to create are waited for until the Deployment's
 * progress deadline (the operator's Ready says Reconciling, not Stalled); the message says why.
 */
const waitingReasons: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ["ServingReady", new Set(["Creating", "RollingOut", "Unschedulable", "FailedCreate"])],
  [
    "BootstrapComplete",
    new Set([
      "Waiting",
      "WaitingForCollection",
      "Creating",
      "Bootstrapping",
      "BootstrapSuspended",
      "VersionNotComplete",
      "Unmeasured",
      // Shut only: a model with data waits for a pipeline to name it again (Open: a serving-only model).
      "NoPipelines",
    ]),
  ],
  ["CaughtUp", new Set(["Waiting", "WaitingForWorkers", "CatchingUp", "Unmeasured"])],
  ["CoverageMet", new Set(["Waiting", "CoverageBelowGate", "Unmeasured"])],
  ["ParityPassed", new Set(["Waiting", "Unmeasured", "NothingToSample", "ParityUnmeasured"])],
  ["Promoted", new Set(["Deploying", "Bootstrapping", "CatchingUp", "AwaitingCutover"])],
]);

/**
 * How a condition's status reads to someone watching a promotion: a gate that is False because it is
 * still being waited for is pending (…), not bad (✗); bad is kept for a failure.
 */
export function conditionVerdict(type: string, status: string, reason?: string): ConditionView["verdict"] {
  if (status !== "True" && status !== "False") return "pending";
  if (informative.has(type)) return "neutral";
  if (status === "False" && reason !== undefined && waitingReasons.get(type)?.has(reason) === true)
    return "pending";
  return (status === "True") !== abnormalTrue.has(type) ? "good" : "bad";
}

/**
 * How a condition is named beside its mark: "not Stalled" for a False condition whose True is the bad
 * news; "✓ Stalled" read as a stall confirmed.
 */
export function conditionLabel(type: string, status: string): string {
  return status === "False" && abnormalTrue.has(type) ? `not ${type}` : type;
}

function conditionView(conditions: Condition[] | undefined, type: string): ConditionView {
  const condition = conditions?.find((candidate) => candidate.type === type);
  const label = conditionLabel(type, condition?.status ?? "Unknown");
  return {
    type,
    verdict: conditionVerdict(type, condition?.status ?? "Unknown", condition?.reason),
    label,
    detail: label !== type ? "" : condition?.message || condition?.reason || "–",
    status: condition?.status ?? "Unknown",
    reason: condition?.reason ?? "",
    message: condition?.message ?? "",
    ...(condition?.lastTransitionTime !== undefined && { lastTransitionTime: condition.lastTransitionTime }),
  };
}

function actionView(
  model: EmbeddingModel,
  kind: "approve" | "rollback",
  records: readonly VersionRecord[],
  recordsProblem: string | undefined,
): ActionView {
  const proposed = kind === "approve" ? approve(model) : rollback(model, undefined, records);
  // A rollback in flight is abandoned only by naming the active version (the CLI's plain `rollback`,
  // run twice, would undo it); the page's button says "Abandon" and is confirmed, so it offers that.
  const decision =
    "refused" in proposed && proposed.rollbackInFlight === true
      ? rollback(model, model.status?.activeVersion, records)
      : proposed;
  // Records the user may not read (or that could not be listed) are not records the operator lacks.
  if ("refused" in decision && decision.missingRecord === true && recordsProblem !== undefined)
    return {
      refused: `cannot read the operator's version records (ConfigMaps), which a rollback restores: ${recordsProblem}`,
    };
  if ("refused" in decision) return { refused: decision.refused };
  const version = kind === "approve" ? model.spec.version : String(decision.patch.version);
  return {
    version,
    summary: decision.summary,
    ...(decision.abandons !== undefined && { abandons: decision.abandons }),
    ...(decision.warning !== undefined && { warning: decision.warning }),
  };
}

function pipelineView(
  pipeline: NearlinePipeline,
  status: PipelineView | undefined,
  throughput: (key: string) => number | undefined,
): DashboardPipeline {
  const namespace = pipeline.metadata.namespace ?? "default";
  return {
    name: pipeline.metadata.name,
    entity: pipeline.spec.entity,
    ready: pipeline.status?.conditions?.find((condition) => condition.type === "Ready")?.status ?? "Unknown",
    ...(status?.message !== undefined && { message: status.message }),
    versions: (pipeline.status?.versions ?? []).map((version) => {
      const rate = throughput(throughputKey(namespace, pipeline.metadata.name, version.version));
      return { ...version, ...(rate !== undefined && { throughput: rate }) };
    }),
  };
}

/** The whole page state: one entry per EmbeddingModel, sorted by namespace and name. */
export function dashboardView(
  objects: WatchedObjects,
  options: {
    namespace?: string;
    now: Date;
    throughput?: (key: string) => number | undefined;
    apiServer?: ApiProblem;
    /** Why the version record ConfigMaps cannot be listed or watched (403 for a user without access). */
    versionRecordsProblem?: string;
    /** Why Events cannot be listed or watched. */
    eventsProblem?: string;
    /**
     * Why the user may not change a model (no patch of embeddingmodels), undefined when allowed or
     * not known: the actions are then refused with it, before any click.
     */
    actionsDenied?: (namespace: string, name: string) => string | undefined;
    /** Why whether the user may change a model could not be checked; undefined when it was. */
    actionsUnchecked?: (namespace: string, name: string) => string | undefined;
    /** Why whether the user may change a model is not known yet (its review has not answered). */
    actionsChecking?: (namespace: string, name: string) => string | undefined;
  },
): DashboardState {
  const throughput = options.throughput ?? (() => undefined);
  const models = statusView(objects).map((view): DashboardModel => {
    const model = objects.models.find(
      (candidate) =>
        candidate.metadata.name === view.name &&
        (candidate.metadata.namespace ?? "default") === view.namespace,
    )!;
    const pipelines = objects.pipelines.filter(
      (pipeline) =>
        (pipeline.metadata.namespace ?? "default") === view.namespace &&
        view.pipelines.some((candidate) => candidate.name === pipeline.metadata.name),
    );
    const runs = objects.bootstrapRuns.filter(
      (run) =>
        (run.metadata.namespace ?? "default") === view.namespace &&
        view.bootstraps.some((candidate) => candidate.name === run.metadata.name),
    );
    const records = (objects.versionRecords ?? [])
      .filter((owned) => owned.namespace === view.namespace && owned.model === view.name)
      .map((owned) => owned.record);
    // A user who may not change the models here gets both actions refused with why, before any click.
    const denied = options.actionsDenied?.(view.namespace, view.name);
    const permissionNote =
      denied === undefined ? options.actionsUnchecked?.(view.namespace, view.name) : undefined;
    const permissionChecking =
      denied === undefined ? options.actionsChecking?.(view.namespace, view.name) : undefined;
    const { gates: _gates, pipelines: _pipelines, bootstraps, ...rest } = view;
    return {
      ...rest,
      conditions: promotionConditionTypes.map((type) => conditionView(model.status?.conditions, type)),
      pipelines: pipelines.map((pipeline) =>
        pipelineView(
          pipeline,
          view.pipelines.find((candidate) => candidate.name === pipeline.metadata.name),
          throughput,
        ),
      ),
      bootstraps: bootstraps.map((bootstrap) => {
        const progress = runs.find((run) => run.metadata.name === bootstrap.name)?.status?.progress;
        return {
          ...bootstrap,
          ...(progress?.embedded !== undefined && { embedded: progress.embedded }),
          ...(progress?.deduplicated !== undefined && { deduplicated: progress.deduplicated }),
          ...(progress?.failed !== undefined && { failed: progress.failed }),
        };
      }),
      timeline: buildTimeline(
        [
          { kind: "EmbeddingModel", name: view.name, conditions: model.status?.conditions },
          ...pipelines.map((pipeline) => ({
            kind: "NearlinePipeline",
            name: pipeline.metadata.name,
            conditions: pipeline.status?.conditions,
          })),
          ...runs.map((run) => ({
            kind: "BootstrapRun",
            name: run.metadata.name,
            conditions: run.status?.conditions,
          })),
        ],
        objects.events,
        view.namespace,
      ).map((entry) => ({
        ...entry,
        verdict:
          entry.source === "condition"
            ? conditionVerdict(entry.title, entry.status, entry.reason)
            : entry.status === "Warning"
              ? ("bad" as const)
              : ("neutral" as const),
      })),
      actions:
        denied !== undefined
          ? { approve: { refused: denied }, rollback: { refused: denied } }
          : {
              approve: actionView(model, "approve", records, undefined),
              rollback: actionView(model, "rollback", records, options.versionRecordsProblem),
            },
      ...(permissionNote !== undefined && { permissionNote }),
      ...(permissionChecking !== undefined && { permissionChecking }),
    };
  });
  models.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    ...(options.namespace !== undefined && { namespace: options.namespace }),
    generatedAt: options.now.toISOString(),
    ...(options.apiServer !== undefined && { apiServer: options.apiServer }),
    ...(options.eventsProblem !== undefined && { eventsProblem: options.eventsProblem }),
    models,
    unattachedPipelines: unattachedPipelines(objects).sort(
      (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
    ),
  };
}
