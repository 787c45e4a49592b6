// The BootstrapRun reconcile: a run that is not finished is started (stall checks, watermarks captured
// into status, ConfigMap and Indexed Job applied), then followed (suspend and time limits passed on to
// the Job, a deleted ConfigMap put back, a Job writing to a store its pipeline left replaced, status
// from the Job and the checkpoints). A finished run is never touched again, but for acknowledging a
// later spec edit in its observedGeneration.
import type { V1Job } from "@kubernetes/client-node";
import {
  fromApiServer,
  safeParseBootstrapRun,
  safeParseNearlinePipeline,
  type BootstrapRun,
  type BootstrapRunStatus,
} from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext, ReconcileResult } from "../../operator/runtime/types.ts";
import type { EmbeddingModel } from "../../crds/index.ts";
import { readVersionRecords, versionsNamedBy } from "../embedding-model/record-reader.ts";
import { sameVectors, versionRecordName } from "../embedding-model/version-record.ts";
import { madeByModel } from "../shared/model-runs.ts";
import {
  resolveVersion,
  type LiveVersion,
  type ResolvedVersions,
} from "../nearline-pipeline/live-versions.ts";
import { readSurroundings } from "../nearline-pipeline/read-surroundings.ts";
import {
  secretKeys,
  withSecrets,
  type ReadSecrets,
  type SecretValues,
} from "../nearline-pipeline/secret-reader.ts";
import { writeStatus } from "../shared/status-writer.ts";
import type { PipelineSurroundings } from "../nearline-pipeline/stall-causes.ts";
import { conditionTime, findCondition, kstatusConditions, type Kstatus } from "../shared/conditions.ts";
import { annotationKeys, labelKeys } from "../shared/labels.ts";
import { jobRefusal, type EventView, type RefusedPods } from "../shared/refused-pods.ts";
import { unschedulablePods } from "../shared/unschedulable-pods.ts";
import { failingPods, lastFailedContainer } from "../shared/failing-pods.ts";
import { shardRetries } from "./shard-retries.ts";
import { jobSecretNames, missingShardSecret } from "./shard-secrets.ts";
import type { MissingSecretReference } from "../nearline-pipeline/secret-refs.ts";
import { describeFailure } from "../shared/reconcile-error.ts";
import type { Images } from "../shared/image.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { bootstrapJobName, labelValue } from "../shared/names.ts";
import { childApply } from "../shared/owner.ts";
import {
  captureWatermarks,
  ChangelogTopicMissing,
  missingStoreSecret,
  readCheckpoints,
  readRegisteredVersion,
} from "./run-io.ts";
import { lookingAgain, missingReferencePollMs, topicNotFoundReason } from "../embedding-model/blockers.ts";
import { describeRedefinition } from "../../store/index.ts";
import type { bootstrapFailedGauge, ShardGauges } from "./run-metrics.ts";
import { recordNamespaceRuns, recordRunFailed, recordRunShards, shardFigures } from "./run-metrics.ts";
import { acknowledgedStatus, isFinished, runConditions, runStatus, type RunDecision } from "./run-status.ts";
import { createdMs } from "./run-created.ts";
import { desiredShards } from "./shard-job.ts";
import { pendingArrival, runStallCause } from "./stall-causes.ts";
import {
  describeStore,
  keptStoreAnnotations,
  pipelineStore,
  storeAnnotations,
  storeLeft,
  type JobStore,
  type ReplacedJobs,
} from "./run-store.ts";

/** How often a running run's progress is read from the checkpoints. */
export const runPollMs = 10_000;
/** How often a run waits for the Job of an earlier run of its name to be removed. */
export const earlierJobPollMs = 2_000;
/** How often a run that cannot start looks again (a missing Secret is not watched). */
export const stalledPollMs = 30_000;

/** What the reconcile needs besides its context; tests replace the Kafka and store reads. */
export interface RunReconcileSettings {
  images: Images;
  /** The operator's default scheduling of the shard pods. */
  placement?: WorkloadPlacement | undefined;
  /** Where jude_bootstrap_failed is exported (a private registry when absent). */
  failedGauge?: ReturnType<typeof bootstrapFailedGauge>;
  /** Where the shards' dead letters and waits are exported (run-metrics.ts; not at all when absent). */
  shardGauges?: ShardGauges;
  captureWatermarks?: typeof captureWatermarks;
  readCheckpoints?: typeof readCheckpoints;
  readRegisteredVersion?: typeof readRegisteredVersion;
  /** Jobs deleted for a store move, which the cache may still hold (one set per controller). */
  replacedJobs?: ReplacedJobs;
  /** The time limit of the watermark capture and the checkpoint reads (20 s when absent). */
  externalTimeoutMs?: number;
}

/** Reconciles one BootstrapRun. */
export async function reconcileBootstrapRun(
  context: ReconcileContext,
  settings: RunReconcileSettings,
): Promise<ReconcileResult | void> {
  const raw = context.cache.get(resourceTypes.bootstrapRun, context.key);
  const gauge = settings.failedGauge;
  const shardGauges = settings.shardGauges;
  if (raw === undefined || raw.metadata?.deletionTimestamp) {
    if (shardGauges !== undefined) await recordRunShards(shardGauges, context.key, undefined, {});
    if (gauge !== undefined) {
      await recordRunFailed(gauge, context.key, undefined, false);
      // A deleted success no longer supersedes the failures before it.
      await recordNamespaceRuns(gauge, namespaceRuns(context, context.key.name));
    }
    return;
  }
  const parsed = safeParseBootstrapRun(raw, fromApiServer);
  if (!parsed.success) {
    const verdict = { state: "Stalled", reason: "InvalidSpec", message: parsed.error.message } as const;
    await writeStatus(context, raw, {}, kstatusConditions(verdict));
    return;
  }
  const run = parsed.data;
  if (gauge !== undefined) await recordNamespaceRuns(gauge, namespaceRuns(context), run);
  if (isFinished(run)) {
    // A finished run waits on nothing; its dead letters stay as last read.
    if (shardGauges !== undefined)
      await recordRunShards(shardGauges, context.key, run.spec.modelVersion, { waitingSinceMs: {} });
    const acknowledged = acknowledgedStatus(
      raw.status as BootstrapRunStatus | undefined,
      run.metadata.generation,
    );
    if (acknowledged !== undefined)
      await context.client.applyStatus({
        apiVersion: raw.apiVersion,
        kind: raw.kind,
        metadata: { name: context.key.name, namespace: context.key.namespace },
        status: acknowledged,
      });
    return;
  }
  const pipelineRaw = context.cache.get(resourceTypes.nearlinePipeline, {
    namespace: context.key.namespace,
    name: run.spec.pipelineRef.name,
  });
  const pipelineParsed =
    pipelineRaw === undefined ? undefined : safeParseNearlinePipeline(pipelineRaw, fromApiServer);
  const read = pipelineParsed?.success ? await readSurroundings(context, pipelineParsed.data) : undefined;
  let job = context.cache.get<V1Job & KubeObject>(resourceTypes.job, {
    namespace: context.key.namespace,
    name: bootstrapJobName(run.metadata.name, run.spec.parallelism),
  });
  const earlier = job === undefined ? undefined : earlierRunOf(job, run);
  if (earlier !== undefined) {
    // A run deleted and created again under the same name (by hand, or by the promotion rebuilding a
    // version) finds its predecessor's Job until the garbage collector removes it. Taking that Job's
    // outcome as its own would finish this run with a result it never produced.
    const verdict = {
      state: "Reconciling",
      reason: "WaitingForEarlierJob",
      message: `Job ${job!.metadata?.name} belongs to an earlier BootstrapRun of this name (uid ${earlier}); waiting until it is removed`,
    } as const;
    await writeStatus(context, raw, { phase: "Pending", ...keptWatermarks(run) }, kstatusConditions(verdict));
    return { requeueAfterMs: earlierJobPollMs };
  }
  let current = run;
  if (job === undefined) {
    const ahead = runAhead(context, run);
    if (ahead !== undefined) {
      // Two Jobs would fill the same version's keys side by side (each embedding every text); the
      // promotion and the version's workers follow one run. The later run waits for the other to finish.
      const verdict = {
        state: "Reconciling",
        reason: "AnotherRunInFlight",
        message: aheadMessage(run, ahead),
      } as const;
      await writeStatus(
        context,
        raw,
        { phase: "Pending", ...keptWatermarks(run) },
        kstatusConditions(verdict),
      );
      return { requeueAfterMs: runPollMs };
    }
    const started = await startRun(context, raw, run, read, settings);
    if (!("job" in started)) return started;
    ({ run: current, job } = started);
  } else {
    // The pipeline moved to another store since the Job started: its shards would go on filling the old one.
    const storeNow = read === undefined ? undefined : storeOf(read.surroundings);
    const left = storeNow === undefined ? undefined : storeLeft(job, storeNow);
    if (left !== undefined) return replaceJob(context, raw, run, job, left, storeNow!, settings.replacedJobs);
    await passControlsToJob(context, run, job);
    if (!isFinishedJob(job)) await restoreShardConfig(context, raw, run, job, read, settings);
  }
  const storeSecretGone =
    read === undefined ? undefined : missingStoreSecret(read.surroundings.pipeline, read.secretValues);
  let checkpointsUnreadable =
    read === undefined
      ? pipelineUnreadable(run, pipelineParsed)
      : storeSecretGone !== undefined
        ? { message: storeSecretGone, stalled: true }
        : undefined;
  const checkpoints =
    read === undefined || storeSecretGone !== undefined
      ? undefined
      : await (settings.readCheckpoints ?? readCheckpoints)(
          read.surroundings.pipeline,
          read.secretValues,
          {
            namespace: context.key.namespace,
            name: run.metadata.name,
            uid: run.metadata.uid,
          },
          run.spec.parallelism,
          settings.externalTimeoutMs,
        ).catch((error: unknown) => {
          context.log.warn(
            { err: error },
            "cannot read the shards' checkpoints; progress is refreshed later",
          );
          checkpointsUnreadable = { message: describeFailure(error), stalled: false };
          return undefined;
        });
  const shardPods = context.cache.list(resourceTypes.pod, {
    namespace: context.key.namespace,
    labels: { [labelKeys.component]: "bootstrap", [labelKeys.bootstrapRun]: labelValue(run.metadata.name) },
  });
  const decision = withSuperseded(
    runStatus({
      run: current,
      job,
      checkpoints,
      checkpointsUnreadable,
      nowMs: Date.now(),
      unschedulable: unschedulablePods(shardPods),
      failing: failingPods(shardPods),
      lastShardFailure: lastFailedContainer(shardPods),
      retries: shardRetries(shardPods),
      shardPods: shardPods.filter((pod) => pod.metadata?.deletionTimestamp === undefined).length,
      refused: await shardRefusal(context, job, shardPods),
      secretMissing: await shardSecretMissing(context, job, read),
    }),
    await supersededVersion(context, run, job, read?.surroundings.model),
  );
  const watermarks = current.status?.watermarks;
  await writeStatus(
    context,
    raw,
    { ...decision.status, ...(watermarks ? { watermarks } : {}) },
    decision.conditions,
  );
  if (gauge !== undefined)
    await recordNamespaceRuns(gauge, namespaceRuns(context), {
      ...run,
      status: { ...run.status, phase: decision.status.phase },
    });
  if (shardGauges !== undefined) {
    const finished = decision.status.phase === "Succeeded" || decision.status.phase === "Failed";
    const figures = checkpoints === undefined ? undefined : shardFigures(checkpoints);
    await recordRunShards(shardGauges, context.key, run.spec.modelVersion, {
      ...(figures !== undefined ? { deadLetters: figures.deadLetters } : {}),
      // A shard killed mid-wait leaves its wait in its checkpoint: a finished run waits on nothing.
      ...(finished
        ? { waitingSinceMs: {} }
        : figures !== undefined
          ? { waitingSinceMs: figures.waitingSinceMs }
          : {}),
    });
  }
  if (decision.status.phase !== run.status?.phase && decision.status.phase !== "Running") {
    const record = decision.status.phase === "Failed" ? context.events.warning : context.events.normal;
    record.call(context.events, raw, decision.status.phase ?? "Pending", decision.standing.message);
  }
  // Stalled but not Failed (shard pods the kubelet cannot run; a completed Job whose checkpoints cannot
  // be read): the phase does not change, so the phase's Events never say it.
  if (decision.status.phase !== "Failed") warnAsItStalls(context, raw, run, decision.standing);
  return decision.status.phase === "Succeeded" || decision.status.phase === "Failed"
    ? undefined
    : { requeueAfterMs: runPollMs };
}

/**
 * Why a started run fills a version its model dropped, or undefined: the model's spec names another
 * version and no record of the run's exists any more (a candidate superseded before it went live; the
 * record is looked up by name, so one orphaned or with its labels removed still counts). The promotion
 * deletes the runs it made with the version, never one a user made, whose shards would fill vectors
 * the promotion collects once they stop (waiting meanwhile on the version's server, gone with it).
 * Said, not acted on: the run is the user's to delete. A model deleted (the run finishes) says nothing,
 * nor does a run the model made (its promotion deletes it), nor one of the active version (it went
 * live; its record can be missing after the model was deleted and applied again).
 */
async function supersededVersion(
  context: ReconcileContext,
  run: BootstrapRun,
  job: V1Job,
  model: EmbeddingModel | undefined,
): Promise<string | undefined> {
  const version = run.spec.modelVersion;
  if (
    model === undefined ||
    model.spec.version === version ||
    model.status?.activeVersion === version ||
    isFinishedJob(job)
  )
    return undefined;
  // The promotion's own run: the model's reconcile drops the record before it deletes the run (several
  // writes later, or at a retry when one of them fails); told meanwhile, the user would read a Warning
  // to delete what the model deletes anyway.
  if (madeByModel(run as unknown as KubeObject, model)) return undefined;
  const record = await context.client.getLive(resourceTypes.configMap, {
    namespace: context.key.namespace,
    name: versionRecordName(model.metadata.name, version),
  });
  if (record !== undefined) return undefined;
  return `spec.modelVersion: EmbeddingModel ${model.metadata.name} no longer records version ${version} (its spec.version is ${model.spec.version}: a candidate superseded before it went live): its embedding server is gone and the vectors this run writes are collected once its shard pods have stopped; delete this run`;
}

/** `decision` Stalled with reason VersionSuperseded when `superseded` says why; unchanged otherwise. */
function withSuperseded(decision: RunDecision, superseded: string | undefined): RunDecision {
  const phase = decision.status.phase;
  if (superseded === undefined || phase === undefined || phase === "Succeeded" || phase === "Failed")
    return decision;
  const standing = { state: "Stalled", reason: "VersionSuperseded", message: superseded } as const;
  return { ...decision, standing, conditions: runConditions(phase, standing) };
}

/**
 * A Warning Event for a run that is Stalled in `standing`, once, as it turns (or as its cause does:
 * Stalled before as ReconcileError, because it was not reconciled, is another cause).
 */
function warnAsItStalls(
  context: ReconcileContext,
  raw: KubeObject,
  run: BootstrapRun,
  standing: Kstatus,
): void {
  if (standing.state !== "Stalled") return;
  const before = findCondition(run.status?.conditions, "Stalled");
  if (before?.status === "True" && before.reason === standing.reason) return;
  context.events.warning(raw, standing.reason, standing.message);
}

/**
 * A Secret (or key) the Job's shard pods require that is missing now (shard-secrets.ts), while the Job
 * may still start pods. Those the pipeline and model no longer reference (renamed since the Job
 * started) are read too: the Job's pods read them still.
 */
async function shardSecretMissing(
  context: ReconcileContext,
  job: V1Job & KubeObject,
  read: { surroundings: PipelineSurroundings; secretValues: ReadSecrets } | undefined,
): Promise<MissingSecretReference | undefined> {
  if (read === undefined || isFinishedJob(job)) return undefined;
  const secrets = await withSecrets(
    context.client,
    context.key.namespace,
    read.secretValues,
    jobSecretNames(job),
  );
  return missingShardSecret(job, { ...read.surroundings, secrets: secretKeys(secrets) });
}

/** Why a run's pipeline cannot be used to read its checkpoints: missing (deleted mid-run) or invalid. */
function pipelineUnreadable(
  run: BootstrapRun,
  parsed: ReturnType<typeof safeParseNearlinePipeline> | undefined,
): { message: string; stalled: boolean } {
  if (parsed !== undefined && !parsed.success)
    return {
      message: `NearlinePipeline ${run.spec.pipelineRef.name} is not valid: ${parsed.error.message}`,
      stalled: true,
    };
  const missing = runStallCause({ run, pipeline: undefined, versions: { versions: [], waiting: [] } });
  return {
    message: missing?.message ?? `NearlinePipeline ${run.spec.pipelineRef.name} does not exist`,
    stalled: true,
  };
}

/** The valid BootstrapRuns of the reconciled run's namespace in the cache, but `except` (a deleted one). */
function namespaceRuns(context: ReconcileContext, except?: string): BootstrapRun[] {
  return context.cache
    .list(resourceTypes.bootstrapRun, { namespace: context.key.namespace })
    .flatMap((raw) => {
      if (raw.metadata?.name === except || raw.metadata?.deletionTimestamp) return [];
      const parsed = safeParseBootstrapRun(raw, fromApiServer);
      return parsed.success ? [parsed.data] : [];
    });
}

/**
 * Starts a run: checks it can run, captures the watermarks (once: a live read guards against a stale
 * cache capturing twice) and writes them to status before the Job exists, then applies the ConfigMap
 * and the Job. Returns when to look again when the run cannot start yet (its status says why).
 */
async function startRun(
  context: ReconcileContext,
  raw: KubeObject,
  run: BootstrapRun,
  read: { surroundings: PipelineSurroundings; secretValues: SecretValues } | undefined,
  settings: RunReconcileSettings,
): Promise<{ run: BootstrapRun; job: V1Job & KubeObject } | { requeueAfterMs: number }> {
  const model = read?.surroundings.model;
  const versions =
    model === undefined ? { versions: [], waiting: [] } : await runVersions(context, model, run);
  const cause = runStallCause({ run, pipeline: read?.surroundings, versions });
  const waiting = versions.waiting.find((entry) => entry.version === run.spec.modelVersion);
  const version = versions.versions.find((entry) => entry.version === run.spec.modelVersion);
  if (cause !== undefined || waiting !== undefined || version === undefined || read === undefined) {
    const nowMs = Date.now();
    const arrival = cause === undefined ? undefined : pendingArrival(cause, run, nowMs);
    const verdict: Kstatus =
      arrival?.standing ??
      (waiting?.stallReason !== undefined
        ? { state: "Stalled", reason: waiting.stallReason, message: waiting.reason }
        : { state: "Reconciling", reason: "WaitingForModel", message: waiting?.reason ?? "" });
    await writeStatus(context, raw, { phase: "Pending", ...keptWatermarks(run) }, kstatusConditions(verdict));
    // A run that cannot start until a person acts (a missing Secret, pipeline or model version) stays
    // Pending: no phase Event would say it.
    warnAsItStalls(context, raw, run, verdict);
    // A young run whose pipeline, model or version is not there yet says Stalled once its grace is
    // over, if their arrival did not wake it first.
    const untilMs = arrival?.untilMs;
    return {
      requeueAfterMs:
        untilMs === undefined ? stalledPollMs : Math.min(stalledPollMs, Math.max(untilMs - nowMs, 0) + 1_000),
    };
  }
  const redefined = await redefinedInStore(context, run, read, version, settings);
  if (redefined !== undefined) {
    const verdict = { state: "Stalled", reason: "VersionRedefined", message: redefined } as const;
    await writeStatus(
      context,
      raw,
      { phase: "Failed", ...keptWatermarks(run) },
      runConditions("Failed", verdict),
    );
    context.events.warning(raw, "Failed", verdict.message);
    return { requeueAfterMs: stalledPollMs };
  }
  let started = run;
  if (run.spec.source.kafkaSnapshot !== undefined && run.status?.watermarks === undefined) {
    const live = await context.client.getLive(resourceTypes.bootstrapRun, context.key);
    const stored = (live?.status as BootstrapRunStatus | undefined)?.watermarks;
    let partitions;
    if (stored === undefined)
      try {
        partitions = await (settings.captureWatermarks ?? captureWatermarks)(
          read.surroundings.pipeline,
          read.secretValues,
          context.signal,
          settings.externalTimeoutMs,
        );
      } catch (error) {
        if (!(error instanceof ChangelogTopicMissing)) throw error;
        return waitForTopic(context, raw, run, error);
      }
    const watermarks = stored ?? {
      capturedTime: conditionTime(new Date()),
      topic: read.surroundings.pipeline.spec.source.kafka.topic,
      partitions: partitions!,
    };
    started = { ...run, status: { ...run.status, watermarks } };
    const verdict = {
      state: "Reconciling",
      reason: "WatermarksCaptured",
      message: "starting the shards",
    } as const;
    await writeStatus(context, raw, { phase: "Pending", watermarks }, kstatusConditions(verdict));
  }
  const desired = desiredShards(
    { run: started, pipeline: read.surroundings.pipeline, model: model!, version },
    settings.images,
    settings.placement,
    { secretKeys: read.surroundings.secrets },
  );
  // The store the shards will write to, so a later move of the pipeline's store can be told.
  desired.job.metadata = {
    ...desired.job.metadata,
    annotations: { ...desired.job.metadata?.annotations, ...storeAnnotations(storeOf(read.surroundings)) },
  };
  await context.client.apply(desired.configMap as KubeObject, childApply);
  const job = await context.client.apply(desired.job as V1Job & KubeObject, childApply);
  context.events.normal(
    raw,
    "Started",
    `Indexed Job ${desired.job.metadata!.name} runs ${run.spec.parallelism} shard${run.spec.parallelism === 1 ? "" : "s"}`,
  );
  return { run: started, job };
}

/**
 * A run whose pipeline's changelog topic does not exist (made by hand, or the topic deleted since the
 * EmbeddingModel made it): said as the model's bootstrap gate says it, reason TopicNotFound naming the
 * pipeline, field and brokers, with a Warning Event once, not a failed reconcile quoting Kafka's
 * "Unknown topic" after a minute of back-off. Topics are not watched: the run looks again every
 * missingReferencePollMs, and starts once someone creates it.
 */
async function waitForTopic(
  context: ReconcileContext,
  raw: KubeObject,
  run: BootstrapRun,
  missing: ChangelogTopicMissing,
): Promise<{ requeueAfterMs: number }> {
  const verdict = {
    state: "Reconciling",
    reason: topicNotFoundReason,
    message: lookingAgain(missing.message),
  } as const;
  const before = findCondition(run.status?.conditions, "Ready");
  await writeStatus(context, raw, { phase: "Pending", ...keptWatermarks(run) }, kstatusConditions(verdict));
  if (before?.reason !== verdict.reason || before.message !== verdict.message)
    context.events.warning(raw, topicNotFoundReason, verdict.message);
  return { requeueAfterMs: missingReferencePollMs };
}

/**
 * What the store's registry records of the run's version that this run would embed otherwise (another
 * model file, other vector settings, another prompt template for the pipeline's entity), in words;
 * undefined when nothing recorded differs or the version is not registered. Such a version was built by a definition the
 * model has no record of (its EmbeddingModel is Stalled, reason VersionRedefined): the shards'
 * registration would be refused, so the run fails before it starts, saying what differs, rather than
 * with their store error once the Job's retries are spent. A registry that cannot be read leaves the
 * check to the shards' registration (a warning logged).
 */
async function redefinedInStore(
  context: ReconcileContext,
  run: BootstrapRun,
  read: { surroundings: PipelineSurroundings; secretValues: SecretValues },
  version: LiveVersion,
  settings: RunReconcileSettings,
): Promise<string | undefined> {
  const pipeline = read.surroundings.pipeline;
  let info;
  try {
    info = await (settings.readRegisteredVersion ?? readRegisteredVersion)(
      pipeline,
      read.secretValues,
      run.spec.modelVersion,
      settings.externalTimeoutMs,
    );
  } catch (error) {
    context.log.warn({ err: error }, "cannot read the version's registry entry; the shards check it");
    return undefined;
  }
  if (info === null) return undefined;
  const template = version.prompts[pipeline.spec.entity];
  const differs = describeRedefinition(
    info,
    {
      modelDigest: version.modelDigest,
      vectorSettings: version.vectorSettings,
      ...(template !== undefined ? { prompts: { [pipeline.spec.entity]: template } } : {}),
    },
    "this run's ",
  );
  if (differs === undefined) return undefined;
  return `version ${run.spec.modelVersion} in store ${pipeline.spec.sinks.store.name} was built with ${differs}; the store refuses this run's writes into it: fill a new version name`;
}

/**
 * The versions a run may fill: the spec's version (usually the one being promoted; its workers wait
 * for this run's offsets, so it cannot wait for them) and every version the promotion still records.
 * A spec that names a recorded version with other weights or prompts (VersionRedefined) does not
 * define it: the version is served and its workers run as its record says, so a run fills it so too.
 */
async function runVersions(
  context: ReconcileContext,
  model: EmbeddingModel,
  run: BootstrapRun,
): Promise<ResolvedVersions> {
  // The run's own version is read by name too, with those the model names (see versionsNamedBy).
  const records = await readVersionRecords(context, model.metadata, [
    run.spec.modelVersion,
    ...versionsNamedBy(model),
  ]);
  const specs = new Map(records.map((record) => [record.version, record.spec]));
  const recorded = specs.get(model.spec.version);
  if (recorded === undefined || sameVectors(recorded, model.spec)) specs.set(model.spec.version, model.spec);
  const resolved: ResolvedVersions = { versions: [], waiting: [] };
  for (const [version, spec] of specs) {
    const entry = resolveVersion(model, version, spec);
    if ("reason" in entry) resolved.waiting.push(entry);
    else resolved.versions.push(entry);
  }
  return resolved;
}

/**
 * Why the API server refuses to create the Job's shard pods (a ResourceQuota, a LimitRange, Pod
 * Security admission, ...), from the Job controller's FailedCreate Events: the Job's status does not
 * say it, and the pods do not exist. Read live, and only while the Job runs fewer pods than it wants,
 * so a run whose shards all run costs no request. A read that fails (an operator installed before its
 * role could list Events) only leaves the refusal unreported.
 */
async function shardRefusal(
  context: ReconcileContext,
  job: V1Job & KubeObject,
  shardPods: readonly KubeObject[],
): Promise<RefusedPods | undefined> {
  const uid = job.metadata?.uid;
  if (uid === undefined || job.spec?.suspend === true || isFinishedJob(job)) return undefined;
  const remaining = (job.spec?.completions ?? 1) - (job.status?.succeeded ?? 0);
  if ((job.status?.active ?? 0) >= Math.min(job.spec?.parallelism ?? 1, remaining)) return undefined;
  try {
    const events = await context.client.listLive<KubeObject & EventView>(
      resourceTypes.event,
      context.key.namespace,
      `involvedObject.uid=${uid},reason=FailedCreate`,
    );
    return jobRefusal(events, shardPods);
  } catch (error) {
    context.log.warn({ err: error }, "cannot read the Job's Events; a refusal of its pods goes unreported");
    return undefined;
  }
}

/** The Job's Complete or Failed condition is True: no shard pod starts any more. */
function isFinishedJob(job: V1Job): boolean {
  return (job.status?.conditions ?? []).some(
    (condition) =>
      (condition.type === "Complete" || condition.type === "Failed") && condition.status === "True",
  );
}

/**
 * Puts back the shards' ConfigMap of a Job that still runs if it was deleted: every shard pod the Job
 * starts later (on resume, or replacing a failed one) mounts it and would wait forever without it.
 * Only the config the Job started with is restored (its hash is in the pod template); when the
 * pipeline changed since, a Warning Event says the run cannot get its config back.
 */
async function restoreShardConfig(
  context: ReconcileContext,
  raw: KubeObject,
  run: BootstrapRun,
  job: V1Job & KubeObject,
  read: { surroundings: PipelineSurroundings } | undefined,
  settings: RunReconcileSettings,
): Promise<void> {
  const key = { namespace: context.key.namespace, name: job.metadata?.name ?? "" };
  const model = read?.surroundings.model;
  if (context.cache.get(resourceTypes.configMap, key) !== undefined || model === undefined) return;
  const versions = await runVersions(context, model, run);
  const version = versions.versions.find((entry) => entry.version === run.spec.modelVersion);
  if (version === undefined) return;
  const objects = { run, pipeline: read!.surroundings.pipeline, model, version };
  const hashOf = (of: V1Job) => of.spec?.template?.metadata?.annotations?.[annotationKeys.configHash];
  // A Job a previous release started has a config without the model's vector settings, or also
  // without the run's uid (its shards' checkpoints are fingerprinted without them): that config is the
  // one to put back.
  const secretKeys = read!.surroundings.secrets;
  const desired = [
    { secretKeys },
    { vectorSettings: false, secretKeys },
    { runUid: false, vectorSettings: false, secretKeys },
  ]
    .map((options) => desiredShards(objects, settings.images, settings.placement, options))
    .find((candidate) => hashOf(candidate.job) === hashOf(job));
  if (desired === undefined) {
    context.events.warning(
      raw,
      "ConfigMapMissing",
      `ConfigMap ${key.name} was deleted and the pipeline changed since the run started, so its config cannot be restored; shard pods started from now on cannot start (delete and recreate the run)`,
    );
    return;
  }
  context.log.info(
    { configMap: key.name },
    "restoring the shards' ConfigMap, deleted while the run is unfinished",
  );
  await context.client.apply(desired.configMap as KubeObject, childApply);
}

/** The store the run's pipeline names now, and where its Secret's URL points (when readable). */
function storeOf(surroundings: PipelineSurroundings): JobStore {
  const pipeline = surroundings.pipeline;
  return pipelineStore(pipeline, surroundings.storeEndpoints?.get(pipeline.metadata.name));
}

/**
 * Deletes the run's Job whose shards write to `from`, a store the pipeline left for `to`: they read
 * their store when they start, so they would keep filling the version where no reader or worker of
 * the pipeline looks any more. The run keeps its watermarks; once the Job is gone, the next reconcile
 * starts it again into `to` (its checkpoints there are its own, so the shards start from there).
 */
async function replaceJob(
  context: ReconcileContext,
  raw: KubeObject,
  run: BootstrapRun,
  job: V1Job & KubeObject,
  from: JobStore,
  to: JobStore,
  replaced: ReplacedJobs | undefined,
): Promise<ReconcileResult> {
  const name = job.metadata?.name ?? "";
  const message = `NearlinePipeline ${run.spec.pipelineRef.name} now writes to ${describeStore(to)}; Job ${name} was filling version ${run.spec.modelVersion} into ${describeStore(from)}, so it is replaced and the shards start again into the new store from the same snapshot`;
  context.log.info(
    { job: name, from, to },
    "replacing a bootstrap Job that writes to a store its pipeline left",
  );
  const uid = job.metadata?.uid;
  // Deleted already (this cache has not seen it go yet): wait for it, without saying it again.
  if (!replaced?.has(uid)) {
    await context.client.delete(resourceTypes.job, { namespace: context.key.namespace, name });
    if (uid !== undefined) replaced?.add(uid);
    context.events.normal(raw, "StoreChanged", message);
  }
  const verdict = { state: "Reconciling", reason: "StoreChanged", message } as const;
  await writeStatus(context, raw, { phase: "Pending", ...keptWatermarks(run) }, kstatusConditions(verdict));
  return { requeueAfterMs: earlierJobPollMs };
}

function keptWatermarks(run: BootstrapRun): Pick<BootstrapRunStatus, "watermarks"> {
  return run.status?.watermarks !== undefined ? { watermarks: run.status.watermarks } : {};
}

/**
 * Passes suspend, backoffLimit and the time limits on to the Job: fields of a running Job that may
 * change (the CRD refuses edits of the others). The rest of its spec is sent back as the server holds
 * it: the pod template is immutable, and the run keeps the config it started with even if its
 * pipeline changed since.
 */
async function passControlsToJob(context: ReconcileContext, run: BootstrapRun, job: V1Job & KubeObject) {
  const spec = job.spec;
  const stored = keptStoreAnnotations(job);
  const wanted = {
    suspend: run.spec.suspend,
    backoffLimit: run.spec.backoffLimit,
    activeDeadlineSeconds: run.spec.activeDeadlineSeconds,
    ttlSecondsAfterFinished: run.spec.ttlSecondsAfterFinished,
  };
  if (
    spec === undefined ||
    (spec.suspend === wanted.suspend &&
      spec.backoffLimit === wanted.backoffLimit &&
      spec.activeDeadlineSeconds === wanted.activeDeadlineSeconds &&
      spec.ttlSecondsAfterFinished === wanted.ttlSecondsAfterFinished)
  )
    return;
  await context.client.apply(
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: job.metadata!.name!,
        namespace: context.key.namespace,
        ...(job.metadata?.labels ? { labels: job.metadata.labels } : {}),
        // Sent back as applied at creation: an apply without them would remove them.
        ...(Object.keys(stored).length > 0 ? { annotations: stored } : {}),
        ...(job.metadata?.ownerReferences ? { ownerReferences: job.metadata.ownerReferences } : {}),
      },
      spec: { ...spec, ...wanted },
    },
    childApply,
  );
}

/**
 * Another unfinished run of the same pipeline and version that goes before `run` (which has
 * no Job yet): one whose Job exists, or one created earlier (the name breaks a tie), so of two runs
 * created together exactly one starts. Undefined when none.
 */
function runAhead(context: ReconcileContext, run: BootstrapRun): BootstrapRun | undefined {
  const created = createdMs(run);
  const ahead = namespaceRuns(context, run.metadata.name).find((other) => {
    if (
      other.spec.pipelineRef.name !== run.spec.pipelineRef.name ||
      other.spec.modelVersion !== run.spec.modelVersion ||
      isFinished(other)
    )
      return false;
    const otherJob = context.cache.get<V1Job & KubeObject>(resourceTypes.job, {
      namespace: context.key.namespace,
      name: bootstrapJobName(other.metadata.name, other.spec.parallelism),
    });
    if (otherJob !== undefined && earlierRunOf(otherJob, other) === undefined) return true;
    const otherCreated = createdMs(other);
    return otherCreated < created || (otherCreated === created && other.metadata.name < run.metadata.name);
  });
  return ahead;
}

/**
 * Why `run` waits for `ahead`, and how to unblock it: a run ahead that is suspended or stalled fills
 * nothing and may never finish, so its state is said with what lets this run start.
 */
function aheadMessage(run: BootstrapRun, ahead: BootstrapRun): string {
  const what = `version ${run.spec.modelVersion} of NearlinePipeline ${run.spec.pipelineRef.name}`;
  if (ahead.spec.suspend === true || ahead.status?.phase === "Suspended")
    return `BootstrapRun ${ahead.metadata.name} is suspended and goes first for ${what}; this run starts once it has finished or is deleted: resume it (spec.suspend: false) or delete it`;
  const stalled = ahead.status?.conditions?.find(
    (condition) => condition.type === "Stalled" && condition.status === "True",
  );
  if (stalled !== undefined)
    return `BootstrapRun ${ahead.metadata.name} is stalled (${stalled.reason}: ${stalled.message ?? ""}) and goes first for ${what}; this run starts once it has finished or is deleted: fix its cause or delete it`;
  return `BootstrapRun ${ahead.metadata.name} fills ${what} already; this run starts once it has finished (or is deleted)`;
}

/** The uid of another run that controls `job`, if any (a Job with no controller is taken as this run's). */
function earlierRunOf(job: KubeObject, run: BootstrapRun): string | undefined {
  const controller = job.metadata?.ownerReferences?.find((owner) => owner.controller === true);
  return controller !== undefined && controller.uid !== run.metadata.uid ? controller.uid : undefined;
}
