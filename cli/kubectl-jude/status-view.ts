// What `kubectl jude status` shows, computed from the JUDE objects alone (pure, so it is tested
// without a cluster and the text and JSON outputs can never disagree).
import type { BootstrapRun, Condition, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import type { JudeObjects } from "./cluster.ts";

/** The promotion gates, in the order the operator checks them (DESIGN section 4). */
export const gateTypes = ["ServingReady", "BootstrapComplete", "CaughtUp", "CoverageMet", "ParityPassed"];

export interface GateView {
  type: string;
  status: "True" | "False" | "Unknown";
  /** The operator's reason: tells a gate still waited for from a failed one. */
  reason?: string;
  message: string;
}

export interface VersionView {
  version: string;
  phase: string;
  readyReplicas?: number;
  coverage?: number;
  lagSeconds?: number;
  modelDigest?: string;
  activatedTime?: string;
}

export interface PipelineView {
  name: string;
  entity: string;
  ready: string;
  /** Why the pipeline is not Ready (its Stalled, else its Ready condition's message); absent when Ready. */
  message?: string;
  versions: Array<{
    version: string;
    lag?: number;
    embedded?: number;
    skippedUnchanged?: number;
    deadLettered?: number;
    /** Source records retention deleted before the workers read them (absent while none). */
    sourceRecordsLost?: number;
    /** Replays after the store lost acknowledged writes (absent while none). */
    storeReplays?: { replays: number; replayedOffsets: number; lost: number };
  }>;
}

export interface BootstrapView {
  name: string;
  pipeline: string;
  version: string;
  phase: string;
  percent?: number;
  processed?: number;
  total?: number;
  /**
   * Why the run is not progressing as its bar suggests (pods the API server refuses or the scheduler
   * cannot place, a model or an earlier Job waited for, suspended, failed): its Stalled, else its Ready
   * condition's message; absent while it just runs or has succeeded.
   */
  message?: string;
}

export interface ModelView {
  namespace: string;
  name: string;
  desiredVersion: string;
  activeVersion?: string;
  cutover: string;
  /** spec.promotion.approvedVersion, when set. */
  approvedVersion?: string;
  ready: string;
  /** Stalled=True: the operator gave up until the spec (or the cluster) changes; someone must act. */
  stalled: boolean;
  message: string;
  /** spec.version is not (yet) the active version: the first version too, whose gates also apply. */
  promoting: boolean;
  versions: VersionView[];
  gates: GateView[];
  pipelines: PipelineView[];
  bootstraps: BootstrapView[];
}

function conditionOf(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/** One view per EmbeddingModel, with its pipelines and the bootstrap runs of those pipelines. */
export function statusView(objects: JudeObjects, modelName?: string): ModelView[] {
  return objects.models
    .filter((model) => modelName === undefined || model.metadata.name === modelName)
    .map((model) => modelView(model, objects));
}

/** A pipeline whose `spec.modelRef` names no EmbeddingModel of its namespace (a typo, a model deleted). */
export interface UnattachedPipelineView extends PipelineView {
  namespace: string;
  modelRef: string;
}

/**
 * The pipelines no model's view shows, because the model they name does not exist: they are Stalled
 * (spec.modelRef.name) and, listed under no model, would otherwise go unmentioned.
 */
export function unattachedPipelines(objects: JudeObjects): UnattachedPipelineView[] {
  const models = new Set(
    objects.models.map((model) => `${model.metadata.namespace ?? "default"}/${model.metadata.name}`),
  );
  return objects.pipelines
    .filter(
      (pipeline) => !models.has(`${pipeline.metadata.namespace ?? "default"}/${pipeline.spec.modelRef.name}`),
    )
    .map((pipeline) => ({
      namespace: pipeline.metadata.namespace ?? "default",
      modelRef: pipeline.spec.modelRef.name,
      ...pipelineView(pipeline),
    }));
}

/** A run whose pipeline does not exist, or names no existing model: no model's view shows it. */
export interface UnattachedBootstrapView extends BootstrapView {
  namespace: string;
}

/**
 * The BootstrapRuns no model's view shows: their `spec.pipelineRef.name` names no NearlinePipeline of
 * their namespace (the operator stalls them), or a pipeline that is itself unattached.
 */
export function unattachedBootstrapRuns(objects: JudeObjects): UnattachedBootstrapView[] {
  const models = new Set(
    objects.models.map((model) => `${model.metadata.namespace ?? "default"}/${model.metadata.name}`),
  );
  const attached = new Set(
    objects.pipelines
      .filter((pipeline) =>
        models.has(`${pipeline.metadata.namespace ?? "default"}/${pipeline.spec.modelRef.name}`),
      )
      .map((pipeline) => `${pipeline.metadata.namespace ?? "default"}/${pipeline.metadata.name}`),
  );
  return objects.bootstrapRuns
    .filter((run) => !attached.has(`${run.metadata.namespace ?? "default"}/${run.spec.pipelineRef.name}`))
    .map((run) => ({ namespace: run.metadata.namespace ?? "default", ...bootstrapView(run) }));
}

function modelView(model: EmbeddingModel, objects: JudeObjects): ModelView {
  const namespace = model.metadata.namespace ?? "default";
  const pipelines = objects.pipelines.filter(
    (pipeline) =>
      (pipeline.metadata.namespace ?? "default") === namespace &&
      pipeline.spec.modelRef.name === model.metadata.name,
  );
  const pipelineNames = new Set(pipelines.map((pipeline) => pipeline.metadata.name));
  const bootstraps = objects.bootstrapRuns.filter(
    (run) =>
      (run.metadata.namespace ?? "default") === namespace && pipelineNames.has(run.spec.pipelineRef.name),
  );
  const conditions = model.status?.conditions;
  const ready = conditionOf(conditions, "Ready");
  const stalled = conditionOf(conditions, "Stalled");
  const activeVersion = model.status?.activeVersion;
  return {
    namespace,
    name: model.metadata.name,
    desiredVersion: model.spec.version,
    ...(activeVersion !== undefined && { activeVersion }),
    cutover: model.spec.promotion?.cutover ?? "Automatic",
    ...(model.spec.promotion?.approvedVersion !== undefined && {
      approvedVersion: model.spec.promotion.approvedVersion,
    }),
    ready: ready?.status ?? "Unknown",
    stalled: stalled?.status === "True",
    message: unreconciled(model)
      ? `no status yet: the operator has not reconciled it (is it running, and does it watch namespace ${namespace}?)`
      : ((stalled?.status === "True" ? stalled.message : ready?.message) ?? ""),
    promoting: activeVersion !== model.spec.version,
    versions: (model.status?.versions ?? []).map((version) => ({ ...version })),
    gates: gateTypes.map((type) => {
      const condition = conditionOf(conditions, type);
      return {
        type,
        status: condition?.status ?? "Unknown",
        ...(condition?.reason !== undefined && { reason: condition.reason }),
        message: condition?.message ?? "",
      };
    }),
    pipelines: pipelines.map(pipelineView),
    bootstraps: bootstraps.map(bootstrapView),
  };
}

/**
 * Whether the operator never wrote the model's status (none running, or none watching its namespace):
 * told apart from a promotion waiting on its gates, which reads the same without a message.
 */
function unreconciled(model: EmbeddingModel): boolean {
  // The CRD defaults observedGeneration to 0: a stored object starts with { observedGeneration: 0 }.
  return (model.status?.observedGeneration ?? 0) === 0 && (model.status?.conditions ?? []).length === 0;
}

function pipelineView(pipeline: NearlinePipeline): PipelineView {
  const ready = conditionOf(pipeline.status?.conditions, "Ready");
  const stalled = conditionOf(pipeline.status?.conditions, "Stalled");
  // A stalled pipeline has no workers, so no figures: without its message the user sees only dashes.
  const message = stalled?.status === "True" ? stalled.message : ready?.message;
  return {
    name: pipeline.metadata.name,
    entity: pipeline.spec.entity,
    ready: ready?.status ?? "Unknown",
    ...(ready?.status !== "True" && message !== undefined && message !== "" && { message }),
    versions: (pipeline.status?.versions ?? []).map((version) => ({
      version: version.version,
      ...(version.lag !== undefined && { lag: version.lag }),
      ...(version.embedded !== undefined && { embedded: version.embedded }),
      ...(version.skippedUnchanged !== undefined && { skippedUnchanged: version.skippedUnchanged }),
      ...(version.deadLettered !== undefined && { deadLettered: version.deadLettered }),
      ...(version.sourceRecordsLost !== undefined && { sourceRecordsLost: version.sourceRecordsLost }),
      ...(version.storeReplays !== undefined && { storeReplays: version.storeReplays }),
    })),
  };
}

/** Ready reasons of a run whose phase and progress bar already say everything (run-status.ts). */
const routineRunReasons = new Set(["Pending", "WatermarksCaptured", "Running", "Succeeded"]);

function bootstrapView(run: BootstrapRun): BootstrapView {
  const progress = run.status?.progress;
  const ready = conditionOf(run.status?.conditions, "Ready");
  const stalled = conditionOf(run.status?.conditions, "Stalled");
  const message =
    stalled?.status === "True"
      ? stalled.message
      : ready !== undefined && ready.status !== "True" && !routineRunReasons.has(ready.reason ?? "")
        ? ready.message
        : undefined;
  return {
    name: run.metadata.name,
    pipeline: run.spec.pipelineRef.name,
    version: run.spec.modelVersion,
    phase: run.status?.phase ?? "Pending",
    ...(progress?.percent !== undefined && { percent: progress.percent }),
    ...(progress?.processed !== undefined && { processed: progress.processed }),
    ...(progress?.total !== undefined && { total: progress.total }),
    ...(message !== undefined && message !== "" && { message }),
  };
}

/** `status -o json|yaml`: everything the text shows, with each object's conditions as it stores them. */
export interface StatusDocument {
  models: Array<
    Omit<ModelView, "pipelines" | "bootstraps"> & {
      conditions: Condition[];
      pipelines: Array<PipelineView & { conditions: Condition[] }>;
      bootstraps: Array<BootstrapView & { conditions: Condition[] }>;
    }
  >;
  /** As the text lists them after the models; empty when one model is asked for. */
  unattachedPipelines: Array<UnattachedPipelineView & { conditions: Condition[] }>;
  /** As the text lists them after those pipelines; empty when one model is asked for. */
  unattachedBootstrapRuns: Array<UnattachedBootstrapView & { conditions: Condition[] }>;
}

/**
 * The document `status -o json` (and `-o yaml`) prints: the views the text is rendered from, each with
 * the conditions of its object (every type, with reason and lastTransitionTime), so that a script tells
 * one not-ready reason from another without a second `kubectl get`.
 */
export function statusDocument(objects: JudeObjects, modelName?: string): StatusDocument {
  const key = (object: { metadata: { namespace?: string; name: string } }) =>
    `${object.metadata.namespace ?? "default"}/${object.metadata.name}`;
  const conditionsOf = (
    list: Array<{ metadata: { namespace?: string; name: string }; status?: { conditions?: Condition[] } }>,
    namespace: string,
    name: string,
  ): Condition[] =>
    (list.find((object) => key(object) === `${namespace}/${name}`)?.status?.conditions ?? []).map(
      (condition) => ({ ...condition }),
    );
  return {
    models: statusView(objects, modelName).map((view) => ({
      ...view,
      conditions: conditionsOf(objects.models, view.namespace, view.name),
      pipelines: view.pipelines.map((pipeline) => ({
        ...pipeline,
        conditions: conditionsOf(objects.pipelines, view.namespace, pipeline.name),
      })),
      bootstraps: view.bootstraps.map((run) => ({
        ...run,
        conditions: conditionsOf(objects.bootstrapRuns, view.namespace, run.name),
      })),
    })),
    unattachedPipelines:
      modelName === undefined
        ? unattachedPipelines(objects).map((pipeline) => ({
            ...pipeline,
            conditions: conditionsOf(objects.pipelines, pipeline.namespace, pipeline.name),
          }))
        : [],
    unattachedBootstrapRuns:
      modelName === undefined
        ? unattachedBootstrapRuns(objects).map((run) => ({
            ...run,
            conditions: conditionsOf(objects.bootstrapRuns, run.namespace, run.name),
          }))
        : [],
  };
}
