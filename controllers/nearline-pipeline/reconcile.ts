// The NearlinePipeline reconcile: read the pipeline, its model, sibling pipelines and referenced
// Secrets; decide (stall causes, live versions); apply each live version's worker ConfigMap and
// Deployment, and delete the config ConfigMaps its rollouts left that no pod can mount any more;
// remove workers of versions no longer live; write status from the workers' own figures
// (counters per version, records lost, and CaughtUp against the model's lag gate).
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import {
  fromApiServer,
  safeParseBootstrapRun,
  safeParseNearlinePipeline,
  type BootstrapRun,
  type NearlinePipeline,
  type NearlinePipelineStatus,
} from "../../crds/index.ts";
import { keyToString } from "../../operator/runtime/object-key.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext, ReconcileResult } from "../../operator/runtime/types.ts";
import { findCondition, kstatusConditions, type ConditionInput, type Kstatus } from "../shared/conditions.ts";
import type { Images } from "../shared/image.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { nearlineWorkerName } from "../shared/names.ts";
import { childApply } from "../shared/owner.ts";
import { keepRunningSecretStamps } from "../shared/running-secret-stamps.ts";
import { deleteSupersededConfigMaps, type DeploymentRollout } from "../shared/config-map-names.ts";
import { readVersionRecords, versionsNamedBy } from "../embedding-model/record-reader.ts";
import type { VersionRecord } from "../embedding-model/version-record.ts";
import { caughtUpCondition, nextFiguresReadMs, pipelinePollMs, turnedReadyWithin } from "./caught-up.ts";
import type { FiguresSampler } from "./figures-sampler.ts";
import { resolveLiveVersions, type ResolvedVersions } from "./live-versions.ts";
import { commitStartOffsets } from "./start-offsets.ts";
import { workerConsumerGroup } from "./worker-config.ts";
import { pipelineStanding } from "./pipeline-standing.ts";
import { countLosses, lossEvents, withLosses, type CountedLosses, type LossLedger } from "./record-losses.ts";
import { readSurroundings } from "./read-surroundings.ts";
import { secretKeys, withSecrets } from "./secret-reader.ts";
import { writeStatus } from "../shared/status-writer.ts";
import { pipelineStallCause } from "./stall-causes.ts";
import {
  olderVersionSecretNames,
  olderVersionSecretProblems,
  withOlderVersionSecretProblems,
} from "./older-version-secrets.ts";
import { olderVersionEvents, type OlderVersionProblem } from "../embedding-model/older-version-references.ts";
import { desiredWorkers } from "./worker-deployment.ts";
import { versionStatus, type WorkerFigures, type WorkerWait } from "./worker-figures.ts";
import { probeWorker } from "./worker-probe.ts";
import { recordWorkers, type WorkerGauges } from "./worker-metrics.ts";
import { deploymentRollout, drainingPods, type Rollout } from "./worker-rollout.ts";
import { unschedulablePods } from "../shared/unschedulable-pods.ts";
import { currentTemplatePods } from "../shared/current-template-pods.ts";
import { failingPods } from "../shared/failing-pods.ts";
import { readProbeFailure } from "../shared/probe-events.ts";
import { notProgressing, type PodReadinessView } from "../shared/progress-deadline.ts";
import { unreadyPods, withProbeFailure, type UnreadyPodView } from "../shared/unready-pods.ts";

export { pipelinePollMs };

/** The kinds of a pipeline's workers per version (removed with the version). */
export const workerTypes = [
  resourceTypes.deployment,
  resourceTypes.configMap,
  resourceTypes.podDisruptionBudget,
] as const;

/** What the reconcile needs besides its context. */
export interface PipelineReconcileSettings {
  images: Images;
  /** The operator's default scheduling of the worker pods. */
  placement?: WorkloadPlacement | undefined;
  /** Commits a new version's start offsets (tests may replace it). */
  commitStartOffsets?: typeof commitStartOffsets;
  /** Where jude_nearline_workers_desired/_ready are exported (not at all when absent). */
  workerGauges?: WorkerGauges | undefined;
  /** Reads one worker pod's figures (tests may replace it). */
  probe?: (pod: V1Pod, signal: AbortSignal) => Promise<WorkerFigures>;
  /** Reuses the workers' figures between polls (read on every reconcile when absent). */
  sampler?: FiguresSampler | undefined;
  /** Each worker process's losses as last read (when absent, each reconcile counts from the status). */
  losses?: LossLedger | undefined;
  /** Replaces pipelinePollMs (--pipeline-poll-seconds). */
  pollMs?: number | undefined;
}

/** Reconciles one NearlinePipeline. */
export async function reconcileNearlinePipeline(
  context: ReconcileContext,
  settings: PipelineReconcileSettings,
): Promise<ReconcileResult | void> {
  const raw = context.cache.get(resourceTypes.nearlinePipeline, context.key);
  const gauges = settings.workerGauges;
  if (raw === undefined || raw.metadata?.deletionTimestamp) {
    if (gauges !== undefined) await recordWorkers(gauges, context.key, []);
    settings.sampler?.forget(keyToString(context.key));
    settings.losses?.forget(keyToString(context.key));
    return; // children are garbage-collected
  }
  const parsed = safeParseNearlinePipeline(raw, fromApiServer);
  if (!parsed.success) {
    if (gauges !== undefined) await recordWorkers(gauges, context.key, []);
    // The status below drops the versions' loss totals: counted again from the workers once valid.
    settings.losses?.forget(keyToString(context.key));
    const verdict: Kstatus = { state: "Stalled", reason: "InvalidSpec", message: parsed.error.message };
    await writePipelineStatus(context, raw, verdict, caughtUpCondition([], undefined), {});
    return;
  }
  const pipeline = parsed.data;
  const { surroundings, secretValues } = await readSurroundings(context, pipeline);
  const cause = pipelineStallCause(surroundings);
  const model = surroundings.model;
  const records =
    cause === undefined && model !== undefined
      ? await readVersionRecords(context, model.metadata, versionsNamedBy(model))
      : [];
  const resolved: ResolvedVersions =
    cause === undefined && model !== undefined
      ? resolveLiveVersions(model, records, bootstrapRunsOf(context, pipeline))
      : { versions: [], waiting: [] };
  let olderVersionProblems: OlderVersionProblem[] = [];
  if (cause === undefined && model !== undefined) {
    // The serving TLS Secret each live version's record names (the CA its workers verify the servers
    // with), read too where the spec names another: its key names decide the CA mount, its ca.crt the
    // pod template's stamp. An older version's token Secret too, to tell whether it is missing.
    const secrets = await withSecrets(context.client, context.key.namespace, secretValues, [
      ...resolved.versions.flatMap((version) => version.serving.tls?.secretName ?? []),
      ...olderVersionSecretNames(model, resolved.versions),
    ]);
    // An older version's Secret missing is said, not waited for: its workers are applied as before.
    olderVersionProblems = olderVersionSecretProblems(model, resolved.versions, secretKeys(secrets));
    for (const version of resolved.versions) {
      const desired = desiredWorkers(
        pipeline,
        model,
        version,
        settings.images,
        settings.placement,
        secrets,
        secretKeys(secrets),
      );
      const name = nearlineWorkerName(pipeline.metadata.name, version.version);
      const exists = context.cache.get(resourceTypes.deployment, { namespace: context.key.namespace, name });
      if (version.startOffsets !== undefined && exists === undefined) {
        const group = workerConsumerGroup(pipeline, version.version);
        const committed = await (settings.commitStartOffsets ?? commitStartOffsets)(
          pipeline,
          secretValues,
          group,
          version.startOffsets,
        );
        context.log.info(
          { version: version.version, group, committed },
          "start offsets of a new version's workers",
        );
      }
      await context.client.apply(desired.configMap as KubeObject, childApply);
      // An older version's record may name a Secret deleted since (said as an olderVersionProblem):
      // its running workers keep their stamp rather than roll into a worker that cannot start.
      keepRunningSecretStamps(context, desired.deployment);
      const deployment = await context.client.apply(desired.deployment as KubeObject, childApply);
      await context.client.apply(desired.disruptionBudget as KubeObject, childApply);
      await deleteSupersededConfigMaps(context, {
        namespace: context.key.namespace,
        base: name,
        current: desired.configMap.metadata!.name!,
        ownerUid: pipeline.metadata.uid,
        selector: desired.deployment.spec!.selector.matchLabels!,
        deployment: deployment as DeploymentRollout,
        pods: workerPods(context, pipeline, version.version),
      });
    }
    if (resolved.waiting.length === 0) await removeRetiredWorkers(context, raw, pipeline, resolved, records);
  }
  // While Stalled nothing is applied or removed, but the workers already running go on: their
  // figures are still reported (status, gauges), not dropped until the cause is gone.
  const reported =
    cause === undefined
      ? resolved.versions.map((version) => version.version)
      : runningVersions(context, pipeline);
  const previousVersions = (raw.status as NearlinePipelineStatus | undefined)?.versions;
  const rollouts = new Map<string, Rollout>();
  const waits = new Map<string, (WorkerWait | undefined)[]>();
  const versions: NonNullable<NearlinePipelineStatus["versions"]> = [];
  const losses = new Map<string, CountedLosses>();
  const recentlyReady = new Set<string>();
  for (const version of reported) {
    const name = nearlineWorkerName(pipeline.metadata.name, version);
    const deployment = context.cache.get<V1Deployment & KubeObject>(resourceTypes.deployment, {
      namespace: context.key.namespace,
      name,
    });
    const pods = workerPods(context, pipeline, version);
    const current = currentTemplatePods(deployment, pods);
    if (turnedReadyWithin(current, Date.now())) recentlyReady.add(version);
    const rollout = await workerRollout(context, deployment, current, drainingPods(pods, Date.now()));
    rollouts.set(version, rollout);
    const figures = await workerFigures(context, pods, version, settings);
    const remembered = settings.losses?.recall(keyToString(context.key), raw.metadata?.uid, version);
    const counted = countLosses(
      previousVersions?.find((entry) => entry.version === version),
      remembered?.seen,
      figures,
      remembered?.totals,
    );
    losses.set(version, counted);
    versions.push(withLosses(versionStatus(version, rollout.readyReplicas, figures), counted));
    // Every running worker, ready or still starting (its start waits on the same dependencies), as
    // its Deployment counts them: not a pod marked for deletion ("2 of 3" beside a pod Terminating on
    // a lost node would say that a third worker consumes).
    waits.set(
      version,
      figures.flatMap((worker) =>
        worker.notRunning === true || worker.deleting === true ? [] : [worker.waitingOn],
      ),
    );
  }
  settings.sampler?.forget(keyToString(context.key), reported);
  if (gauges !== undefined)
    await recordWorkers(
      gauges,
      context.key,
      reported.map((version) => ({
        version,
        desired: pipeline.spec.workers.replicas,
        ready: rollouts.get(version)?.readyReplicas ?? 0,
        notProgressing: rollouts.get(version)?.notProgressing !== undefined,
      })),
    );
  const verdict = withOlderVersionSecretProblems(
    pipelineStanding(cause, resolved, rollouts, waits),
    olderVersionProblems,
  );
  // Before the first cutover readers have no version: LAG then shows the first version's workers,
  // but activeVersion names none (naming the spec's would say readers use it).
  const activeVersion = model?.status?.activeVersion;
  const lagVersion = activeVersion ?? model?.spec.version;
  const lag = versions.find((entry) => entry.version === lagVersion)?.lag;
  const pollMs = settings.pollMs ?? pipelinePollMs;
  const caughtUp = caughtUpCondition(versions, model?.spec.promotion.maxLagSeconds, resolved.waiting, pollMs);
  await writePipelineStatus(context, raw, verdict, caughtUp, {
    ...(activeVersion !== undefined ? { activeVersion } : {}),
    ...(lag !== undefined ? { lag } : {}),
    ...(versions.length > 0 ? { versions } : {}),
  });
  // Secrets are not watched: the poll below looks for a missing one again, and its words go with it.
  const previous = raw.status as NearlinePipelineStatus | undefined;
  for (const event of olderVersionEvents(previous, olderVersionProblems))
    context.events.warning(raw, event.reason, event.message);
  // Remembered once the status carries the totals: a failed write is counted again at the retry.
  for (const [version, counted] of losses) {
    settings.losses?.remember(keyToString(context.key), raw.metadata?.uid, version, counted);
    for (const loss of lossEvents(version, counted)) context.events.warning(raw, loss.reason, loss.message);
  }
  settings.losses?.forget(keyToString(context.key), reported);
  return { requeueAfterMs: nextFiguresReadMs(versions, pollMs, recentlyReady) };
}

/**
 * The rollout of one version's workers from their Deployment and its current template's pods. A
 * rollout not done whose worker runs without passing its startup or readiness probe names the probe's
 * failure from the kubelet's Unhealthy Events on that pod (one live read, only then), as for serving
 * pods, and says whether it is past its progress deadline (the Deployment controller's verdict, or a
 * pod unready for longer); `draining` workers a scale-down or a roll removed keep it from being done.
 */
async function workerRollout(
  context: ReconcileContext,
  deployment: V1Deployment | undefined,
  pods: readonly (V1Pod & KubeObject)[],
  draining: number,
): Promise<Rollout> {
  const unready = unreadyPods(pods as readonly UnreadyPodView[]);
  const progress = notProgressing(deployment, pods as readonly PodReadinessView[]);
  const rollout = (why: typeof unready) =>
    deploymentRollout(deployment, unschedulablePods(pods), failingPods(pods), why, progress, draining);
  const first = rollout(unready);
  const probe = unready?.notReady?.probe;
  if (first.done || first.failing !== undefined || probe === undefined) return first;
  return rollout(withProbeFailure(unready!, await readProbeFailure(context, probe, "a worker pod's")));
}

/** BootstrapRuns of this pipeline (their watermarks are where a new version's workers start). */
function bootstrapRunsOf(context: ReconcileContext, pipeline: NearlinePipeline): BootstrapRun[] {
  return context.cache
    .list(resourceTypes.bootstrapRun, { namespace: context.key.namespace })
    .flatMap((raw) => {
      const parsed = safeParseBootstrapRun(raw, fromApiServer);
      return parsed.success && parsed.data.spec.pipelineRef.name === pipeline.metadata.name
        ? [parsed.data]
        : [];
    });
}

/**
 * Deletes the workers (Deployment, ConfigMap, PDB) of this pipeline's versions no longer live, with a
 * Normal Event for each worker Deployment: the writes to that version's vectors stop, which readers
 * still on it (the model deleted and applied again keeps the store's pointer) notice as stale vectors.
 */
async function removeRetiredWorkers(
  context: ReconcileContext,
  raw: KubeObject,
  pipeline: NearlinePipeline,
  resolved: ResolvedVersions,
  records: readonly VersionRecord[],
): Promise<void> {
  const live = new Set(resolved.versions.map((version) => version.version));
  const { selector } = childLabels("nearline", {
    model: pipeline.spec.modelRef.name,
    pipeline: pipeline.metadata.name,
  });
  for (const type of workerTypes) {
    for (const child of context.cache.list(type, { namespace: context.key.namespace, labels: selector })) {
      const owned = child.metadata?.ownerReferences?.some((owner) => owner.uid === pipeline.metadata.uid);
      const version = child.metadata?.labels?.[labelKeys.embeddingVersion];
      if (owned && version !== undefined && !live.has(version)) {
        context.log.info({ version, kind: child.kind }, "removing workers of a version no longer live");
        const deleted = await context.client.delete(type, {
          namespace: context.key.namespace,
          name: child.metadata!.name!,
        });
        // Told once: a reconcile whose cache had not seen the deletion yet deletes nothing (404).
        if (deleted && type === resourceTypes.deployment)
          context.events.normal(
            raw,
            "WorkersRemoved",
            workersRemovedMessage(pipeline, version, child.metadata!.name!, records),
          );
      }
    }
  }
}

/**
 * Why the workers of `version` went: what the model's version records say of it. A candidate
 * superseded before it went live has none: its record is dropped at once (retention.ts).
 */
function workersRemovedMessage(
  pipeline: NearlinePipeline,
  version: string,
  deployment: string,
  records: readonly VersionRecord[],
): string {
  const model = pipeline.spec.modelRef.name;
  const why = records.some((record) => record.version === version)
    ? `EmbeddingModel ${model}'s record of that version says no workers run (e.g. readers left it and its bake period ended)`
    : `EmbeddingModel ${model} has no record of that version (a candidate superseded before readers got it, one left behind long ago, its record ConfigMap deleted, or the model deleted and applied again), so no worker of this pipeline updates its vectors from now on`;
  return `deleted the workers of version ${version} (Deployment ${deployment}): ${why}`;
}

/** The versions whose worker Deployments (owned by this pipeline) exist, in name order. */
function runningVersions(context: ReconcileContext, pipeline: NearlinePipeline): string[] {
  const { selector } = childLabels("nearline", {
    model: pipeline.spec.modelRef.name,
    pipeline: pipeline.metadata.name,
  });
  const versions = context.cache
    .list(resourceTypes.deployment, { namespace: context.key.namespace, labels: selector })
    .filter((child) => child.metadata?.ownerReferences?.some((owner) => owner.uid === pipeline.metadata.uid))
    .flatMap((child) => child.metadata?.labels?.[labelKeys.embeddingVersion] ?? []);
  return [...new Set(versions)].sort();
}

/** The worker pods of one version of the pipeline. */
function workerPods(context: ReconcileContext, pipeline: NearlinePipeline, embeddingVersion: string) {
  const { selector } = childLabels("nearline", {
    model: pipeline.spec.modelRef.name,
    embeddingVersion,
    pipeline: pipeline.metadata.name,
  });
  return context.cache.list<V1Pod & KubeObject>(resourceTypes.pod, {
    namespace: context.key.namespace,
    labels: selector,
  });
}

/** Figures of the running worker pods of one version. */
async function workerFigures(
  context: ReconcileContext,
  pods: readonly (V1Pod & KubeObject)[],
  embeddingVersion: string,
  settings: PipelineReconcileSettings,
): Promise<WorkerFigures[]> {
  const probe = settings.probe ?? probeWorker;
  // A pod that ended (Failed: evicted, its node shut down; or Succeeded) never runs a process again:
  // it has no figures, and it is left out as a pod gone is, so its losses stay in the totals and its
  // last read is not kept (a Failed pod stays until the pod GC collects it; kept, such reads would
  // take room under maxLossReads, past which a restarted operator counts only the workers' sum).
  const live = pods.filter((pod) => pod.status?.phase !== "Failed" && pod.status?.phase !== "Succeeded");
  // The pod's UID goes with its figures: a worker's losses are counted per pod (its name where it has
  // no UID: test objects).
  const read = () =>
    Promise.all(
      live.map(async (pod) => ({
        ...(await probe(pod, context.signal)),
        podUid: pod.metadata?.uid ?? pod.metadata?.name,
        ...(pod.metadata?.deletionTimestamp !== undefined ? { deleting: true as const } : {}),
      })),
    );
  if (settings.sampler === undefined) return read();
  const podsRead = pods
    .map(
      (pod) =>
        `${pod.metadata?.name}@${pod.status?.podIP}/${pod.status?.phase}${pod.metadata?.deletionTimestamp !== undefined ? "/deleting" : ""}`,
    )
    .sort()
    .join(",");
  return settings.sampler.figures(keyToString(context.key), embeddingVersion, podsRead, read);
}

/** Writes the status (kstatus trio and CaughtUp), and an Event when the pipeline turns Ready or Stalled. */
async function writePipelineStatus(
  context: ReconcileContext,
  raw: KubeObject,
  verdict: Kstatus,
  caughtUp: ConditionInput,
  fields: Omit<NearlinePipelineStatus, "conditions" | "observedGeneration">,
): Promise<void> {
  await writeStatus(context, raw, fields, [...kstatusConditions(verdict), caughtUp]);
  const previous = (raw.status as NearlinePipelineStatus | undefined)?.conditions;
  const before = findCondition(previous, verdict.state);
  if (before?.status !== "True" && verdict.state === "Ready")
    context.events.normal(raw, verdict.reason, verdict.message);
  // Stalled for another cause before (ReconcileError: it was not reconciled) is a turn too.
  const stalledSo = before?.status === "True" && before.reason === verdict.reason;
  if (!stalledSo && verdict.state === "Stalled") context.events.warning(raw, verdict.reason, verdict.message);
}
