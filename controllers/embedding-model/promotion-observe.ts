// Reads everything the promotion decides from: version records, the model's pipelines and their
// figures, BootstrapRuns, serving Deployments and pods, worker Deployments and writer pods from the cache; the pointer
// and registry from the store; coverage counters (a scan of every bucket) only when the decision asks.
// No decisions here.
import type { V1Deployment } from "@kubernetes/client-node";
import {
  fromApiServer,
  safeParseBootstrapRun,
  type BootstrapRun,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { countVersion, type Store } from "../../store/index.ts";
import { autoscalerInactive, flooredMinReplicas, type AutoscalerView } from "./autoscaler.ts";
import { replicasFloor } from "./replicas-ownership.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";
import { blockedServing, topicNotFoundReason, type Blocker } from "./blockers.ts";
import { observeStore } from "./model-store.ts";
import { readVersionRecords } from "./record-reader.ts";
import type { BootstrapObservation, CoverageObservation, LagObservation } from "./promotion-gates.ts";
import type { PromotionInputs } from "./promotion.ts";
import { servingPodFailure, type ServingPodView } from "./serving-pods.ts";
import { unschedulablePods } from "../shared/unschedulable-pods.ts";
import { currentTemplatePods } from "../shared/current-template-pods.ts";
import { failingPods } from "../shared/failing-pods.ts";
import { unreadyPods, withProbeFailure, type UnreadyPods } from "../shared/unready-pods.ts";
import { readProbeFailure } from "../shared/probe-events.ts";
import { fillingRun, isEarlierBuild } from "../shared/filling-run.ts";
import { describeNotReadyPod, notProgressing } from "../shared/progress-deadline.ts";
import { buildStart, modelAtVersion, recordedSpec } from "./version-record.ts";
import { waitingForLag } from "../nearline-pipeline/caught-up.ts";
import { versionsWithWriterPods, type WriterPodView } from "./writer-pods.ts";
import { observeDeployment, servingState, type ServingState } from "./version-status.ts";
import { inSpecTerms } from "./model-source.ts";

/** BootstrapRuns of `version` for the model's pipelines (operator-created or the user's own). */
export function runsOfVersion(
  context: ReconcileContext,
  pipelines: readonly NearlinePipeline[],
  version: string,
): BootstrapRun[] {
  const names = new Set(pipelines.map((pipeline) => pipeline.metadata.name));
  return context.cache
    .list(resourceTypes.bootstrapRun, { namespace: context.key.namespace })
    .flatMap((raw) => {
      const parsed = safeParseBootstrapRun(raw, fromApiServer);
      if (!parsed.success) return [];
      const run = parsed.data;
      return run.spec.modelVersion === version && names.has(run.spec.pipelineRef.name) ? [run] : [];
    });
}

/**
 * A run's Ready reasons that say why its shards do not run or keep failing: the API server refuses
 * them, the scheduler cannot place them, the kubelet cannot run them, they failed and are retried, or
 * the run waits for another run of its version (one the gate may not follow: an earlier build's) or for
 * its pipeline's changelog topic (the model looks for the topic only of a pipeline without a run).
 */
const heldBackReasons = new Set([
  "FailedCreate",
  "Unschedulable",
  "PodFailing",
  "ShardsRetried",
  "AnotherRunInFlight",
  topicNotFoundReason,
]);

/** The runs of every pipeline, summed into one gate observation (undefined until each has one). */
export function bootstrapObservation(
  pipelines: readonly NearlinePipeline[],
  runs: readonly BootstrapRun[],
): BootstrapObservation | undefined {
  const perPipeline = pipelines.map((pipeline) =>
    fillingRun(runs.filter((run) => run.spec.pipelineRef.name === pipeline.metadata.name)),
  );
  if (perPipeline.some((run) => run === undefined) || perPipeline.length === 0) return undefined;
  const all = perPipeline as BootstrapRun[];
  const failed = all.find((run) => run.status?.phase === "Failed");
  const pending = all.find((run) => run.status?.phase !== "Succeeded");
  const shown = failed ?? pending ?? all[0]!;
  const percents = all.map((run) =>
    run.status?.phase === "Succeeded" ? 100 : (run.status?.progress?.percent ?? 0),
  );
  const message =
    shown.status?.conditions?.find((condition) => condition.type === (failed ? "Failed" : "Ready"))
      ?.message ?? "";
  const ready = pending?.status?.conditions?.find((condition) => condition.type === "Ready");
  // A run Stalled before it starts (a Secret of its pipeline missing, the pipeline stalled) says why too.
  const stalled = pending?.status?.conditions?.some(
    (condition) => condition.type === "Stalled" && condition.status === "True",
  );
  const heldBack =
    !failed && ready !== undefined && (heldBackReasons.has(ready.reason) || stalled === true)
      ? `${all.length > 1 ? `${pending!.metadata.name}: ` : ""}${ready.message}`
      : undefined;
  return {
    // The failed run alone when one failed: its message is the one quoted.
    name: failed ? failed.metadata.name : all.map((run) => run.metadata.name).join(", "),
    phase: failed ? "Failed" : pending ? (pending.status?.phase ?? "Pending") : "Succeeded",
    message,
    ...(heldBack !== undefined ? { heldBack } : {}),
    percent: Math.floor(percents.reduce((sum, value) => sum + value, 0) / percents.length),
    ...(all.length > 1
      ? {
          perRun: all
            .map((run, index) => {
              const phase = run.status?.phase ?? "Pending";
              return `${run.metadata.name} ${phase}${phase === "Succeeded" ? "" : ` (${percents[index]}%)`}`;
            })
            .join(", "),
        }
      : {}),
    watermarksCaptured: all.every(
      (run) => run.status?.watermarks !== undefined || run.spec.source.files !== undefined,
    ),
    snapshotTimed: all.every((run) => run.status?.watermarks?.capturedTime !== undefined),
  };
}

/** The workers of `version` over every pipeline, from the pipelines' status. */
export function lagObservation(
  pipelines: readonly NearlinePipeline[],
  version: string,
  pipelinePollMs?: number,
): LagObservation {
  const entries = pipelines.flatMap((pipeline) =>
    (pipeline.status?.versions ?? []).filter((entry) => entry.version === version && entry.lag !== undefined),
  );
  const freshness = entries.flatMap((entry) =>
    entry.freshnessP95Ms === undefined ? [] : [entry.freshnessP95Ms / 1000],
  );
  const withoutWorkers = pipelines
    .filter((pipeline) => pipeline.spec.workers.replicas === 0)
    .map((pipeline) => pipeline.metadata.name);
  const unreported = pipelines.flatMap((pipeline) => {
    const versions = (pipeline.status?.versions ?? []).filter((entry) => entry.version === version);
    if (pipeline.spec.workers.replicas === 0 || versions.some((entry) => entry.lag !== undefined)) return [];
    const name = pipeline.metadata.name;
    const ready = pipeline.status?.conditions?.find((condition) => condition.type === "Ready");
    if (ready !== undefined && ready.status !== "True" && (ready.message ?? "") !== "")
      return [`NearlinePipeline ${name} is not Ready (${ready.reason}): ${ready.message}`];
    const workers = versions.reduce((sum, entry) => sum + (entry.readyReplicas ?? 0), 0);
    return workers > 0 ? [`NearlinePipeline ${name}: ${waitingForLag(workers, pipelinePollMs)}`] : [];
  });
  const stalled = pipelines.flatMap((pipeline) => {
    const condition = pipeline.status?.conditions?.find((entry) => entry.type === "Stalled");
    return condition?.status === "True"
      ? [`NearlinePipeline ${pipeline.metadata.name} is Stalled (${condition.reason}): ${condition.message}`]
      : [];
  });
  return {
    pipelines: pipelines.length,
    reporting: entries.length,
    ...(withoutWorkers.length > 0 ? { withoutWorkers } : {}),
    ...(unreported.length > 0 ? { unreported } : {}),
    ...(stalled.length > 0 ? { stalled } : {}),
    ...(entries.length > 0 ? { records: entries.reduce((sum, entry) => sum + (entry.lag ?? 0), 0) } : {}),
    ...(freshness.length > 0 ? { freshnessSeconds: Math.max(...freshness) } : {}),
  };
}

/**
 * The serving state of one version's Deployment and pods; `minReplicas` (default: the spec's
 * autoscaling floor) is the fewest ready replicas it is Ready with. A version not Ready whose pod runs
 * without passing its startup or readiness probe names the probe's failure, read live from the
 * kubelet's Unhealthy Events on that pod (the only place it is said; one request, only then).
 */
export async function versionServing(
  context: ReconcileContext,
  model: EmbeddingModel,
  version: string,
  minReplicas = model.spec.serving.autoscaling?.minReplicas,
): Promise<ServingState> {
  const deployment = context.cache.get(resourceTypes.deployment, {
    namespace: context.key.namespace,
    name: servingName(model.metadata.name, version),
  });
  const pods = context.cache.list<KubeObject & ServingPodView>(resourceTypes.pod, {
    namespace: context.key.namespace,
    labels: childLabels("serving", { model: model.metadata.name, embeddingVersion: version }).selector,
  });
  // The replaced template's pods (waiting to be scaled down) are no longer what holds the version up.
  const current = currentTemplatePods(deployment, pods);
  // Past the progress deadline by the Deployment controller's word, or by a pod's: it never times
  // out a rollout it once completed (a replacement pod Pending for lack of capacity, a probe failing).
  const observed = observeDeployment(deployment);
  const progress = notProgressing(deployment, current);
  const observation =
    observed === undefined || progress === undefined
      ? observed
      : {
          ...observed,
          progressDeadlineExceeded: true,
          ...(progress.pod !== undefined ? { notReadyPod: describeNotReadyPod(progress) } : {}),
        };
  const state = (unready: UnreadyPods | undefined): ServingState => {
    const said = servingState(
      observation,
      minReplicas,
      servingPodFailure(pods),
      unschedulablePods(current),
      failingPods(current),
      unready,
    );
    // The pods' words name a claim's file by its mount path; the user wrote its pvc:// URI.
    return { ...said, message: inSpecTerms(said.message, model.spec.model) };
  };
  const unready = unreadyPods(current);
  let serving = state(unready);
  const probe = unready?.notReady?.probe;
  if (serving.state !== "Ready" && probe !== undefined)
    serving = state(withProbeFailure(unready!, await readProbeFailure(context, probe, "a serving pod's")));
  // An HPA that cannot scale says so only on itself; the version serves, at a size nothing adjusts.
  const inactive = autoscalerInactive(
    context.cache.get<KubeObject & AutoscalerView>(resourceTypes.horizontalPodAutoscaler, {
      namespace: context.key.namespace,
      name: servingName(model.metadata.name, version),
    }),
  );
  return inactive === undefined ? serving : { ...serving, message: `${serving.message}; ${inactive}` };
}

/**
 * Versions whose writers (worker Deployments, unfinished operator-created runs, and worker or shard
 * pods that have not ended, terminating ones included) still exist.
 */
export function writersPresent(context: ReconcileContext, model: EmbeddingModel): string[] {
  const pods = context.cache.list<KubeObject & WriterPodView>(resourceTypes.pod, {
    namespace: context.key.namespace,
  });
  const versions = new Set<string>(versionsWithWriterPods(pods, model.metadata.name));
  const workers = context.cache.list<V1Deployment & KubeObject>(resourceTypes.deployment, {
    namespace: context.key.namespace,
    labels: childLabels("nearline", { model: model.metadata.name }).selector,
  });
  for (const worker of workers) {
    const version = worker.metadata?.labels?.[labelKeys.embeddingVersion];
    if (version !== undefined) versions.add(version);
  }
  for (const raw of context.cache.list(resourceTypes.bootstrapRun, { namespace: context.key.namespace })) {
    const owned = raw.metadata?.ownerReferences?.some((owner) => owner.uid === model.metadata.uid);
    const parsed = safeParseBootstrapRun(raw, fromApiServer);
    const phase = parsed.success ? parsed.data.status?.phase : undefined;
    if (owned && parsed.success && phase !== "Succeeded" && phase !== "Failed")
      versions.add(parsed.data.spec.modelVersion);
  }
  return [...versions];
}

/** Coverage of the candidate against the current version, once the candidate is complete. */
export async function observeCoverage(
  store: Store,
  candidate: string,
  current: string | null,
): Promise<CoverageObservation> {
  const [candidateCounts, baseCounts] = await Promise.all([
    countVersion(store, candidate),
    current === null ? Promise.resolve(undefined) : countVersion(store, current),
  ]);
  return {
    candidateLive: candidateCounts.live,
    ...(baseCounts !== undefined ? { baseLive: baseCounts.live } : {}),
  };
}

/**
 * The inputs with the candidate's BootstrapRuns that cannot be created (reconcile.ts unstartableRuns,
 * per pipeline) said in its BootstrapComplete gate: the first blocker's reason, every message.
 */
export function withRunBlockers(
  inputs: PromotionInputs,
  runBlockers: ReadonlyMap<string, Blocker>,
): PromotionInputs {
  if (runBlockers.size === 0) return inputs;
  const blockers = [...runBlockers.values()];
  return {
    ...inputs,
    candidate: {
      ...inputs.candidate,
      runBlocked: {
        reason: blockers[0]!.reason,
        message: blockers.map((blocker) => blocker.message).join("; "),
      },
    },
  };
}

/**
 * Builds the decision's inputs, without coverage: counting scans every bucket of two versions, so it
 * is measured only once the decision reaches that gate (a rollback never does).
 * `blockers` keep the spec's version from being served.
 */
export async function observePromotion(
  context: ReconcileContext,
  model: EmbeddingModel,
  pipelines: readonly NearlinePipeline[],
  store: Store | undefined,
  blockers: readonly Blocker[],
  pipelinePollMs?: number,
): Promise<PromotionInputs> {
  const spec = model.spec.version;
  const storeName = pipelines[0]?.spec.sinks.store.name;
  const storeObservation =
    store === undefined || storeName === undefined ? undefined : await observeStore(store, storeName);
  // Every version the store holds is looked up by name too, not only those the cache lists by label:
  // a record whose labels were removed by hand would otherwise leave its version without a record,
  // which retention takes for a superseded build and collects (a Retained rollback target's vectors
  // deleted). Read, the record is applied again with its labels, and an orphaned one (the model
  // deleted with --cascade=orphan) under this model's owner reference: the version it describes is
  // served from it again (its orphaned Deployment adopted by the apply), not left unrecorded.
  const records = await readVersionRecords(
    context,
    model.metadata,
    [
      spec,
      storeObservation?.current,
      storeObservation?.backup,
      model.status?.activeVersion,
      ...Object.keys(storeObservation?.versions ?? {}),
    ],
    { adoptOrphans: true },
  );
  // Each version's pods run its record's model (modelAtVersion): their words name its files, not the spec's.
  const atVersion = (version: string): EmbeddingModel => {
    const record = records.find((entry) => entry.version === version);
    return record === undefined ? model : modelAtVersion(model, record);
  };
  const serving: Record<string, ServingState> = {};
  for (const version of new Set([spec, ...records.map((record) => record.version)]))
    serving[version] = await versionServing(context, atVersion(version), version);
  // A new version is ready for the readers once it runs as many replicas as its HPA's raised floor
  // (replicasFloor); a rollback to a version readers used goes at once, as before.
  const autoscaling = model.spec.serving.autoscaling;
  const neverLive = records.find((record) => record.version === spec)?.activatedTime === undefined;
  if (autoscaling !== undefined && neverLive)
    serving[spec] = await versionServing(
      context,
      atVersion(spec),
      spec,
      flooredMinReplicas(autoscaling, replicasFloor(context, model)),
    );
  serving[spec] = blockedServing(serving[spec]!, blockers);
  const specRecord = records.find((record) => record.version === spec);
  const parity = specRecord?.parity;
  const runs = runsOfVersion(context, pipelines, spec).filter(
    (run) => !isEarlierBuild(run, buildStart(specRecord)),
  );
  return {
    specVersion: spec,
    spec: recordedSpec(model),
    policy: model.spec.promotion,
    store: storeObservation,
    statusActive: model.status?.activeVersion,
    statusActivatedTime: model.status?.versions?.find(
      (entry) => entry.version === model.status?.activeVersion,
    )?.activatedTime,
    statusStoreEpoch: model.status?.storeEpoch,
    statusApproval: model.status?.approval,
    records,
    serving,
    candidate: {
      bootstrap: bootstrapObservation(pipelines, runs),
      lag: lagObservation(pipelines, spec, pipelinePollMs),
      parity,
    },
    writersPresent: writersPresent(context, model),
    now: new Date(),
  };
}
