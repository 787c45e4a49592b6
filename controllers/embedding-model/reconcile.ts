// The EmbeddingModel reconciler: read (cache, live reads of referenced Secrets and claims, the store),
// decide (the promotion state machine, pure), act (server-side apply of every child, the pointer flip,
// status through /status). It never acts on what an event said; it converges to the spec each time,
// so a restart at any step of a promotion resumes exactly there.
import type { Registry } from "prom-client";
import type { BootstrapRun, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { fromApiServer, safeParseEmbeddingModel, safeParseNearlinePipeline } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext, ReconcileResult } from "../../operator/runtime/types.ts";
import type { Store } from "../../store/index.ts";
import { conditionSays, type Kstatus } from "../shared/conditions.ts";
import type { Images } from "../shared/image.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { servingName } from "../shared/names.ts";
import type { SecretsAsRead } from "../shared/secret-wiring.ts";
import { captureWatermarks, ChangelogTopicMissing } from "../bootstrap-run/run-io.ts";
import { readSecrets, secretKeys } from "../nearline-pipeline/secret-reader.ts";
import { missingSecretReference, referencedSecrets } from "../nearline-pipeline/secret-refs.ts";
import {
  lookingAgain,
  missingReferencePollMs,
  referenceBlocker,
  referenceLookup,
  specBlockers,
  topicNotFoundReason,
  type Blocker,
} from "./blockers.ts";
import { openModelStore, pipelinesOfModel, StoreSecretMissing, type ModelStores } from "./model-store.ts";
import { measureParity, type ParityTarget } from "./parity-check.ts";
import { untilAborted } from "../../plumbing/until-aborted.ts";
import {
  reconcileEvents,
  withOlderVersionProblems,
  type OlderVersionProblem,
} from "./older-version-references.ts";
import { withApprovalAsSeen } from "./approval-kept.ts";
import { actOnPromotion, currentBuildRuns } from "./promotion-act.ts";
import { forgetModel, promotionMetrics, recordPromotion } from "./promotion-metrics.ts";
import { observeCoverage, observePromotion, runsOfVersion, withRunBlockers } from "./promotion-observe.ts";
import { promotionStatus } from "./promotion-status.ts";
import { decidePromotion, mayBootstrap, type PromotionDecision, type PromotionInputs } from "./promotion.ts";
import { referencedObjects } from "./references.ts";
import type { ParityObservation } from "./promotion-gates.ts";
import { servingPorts, servingTlsValues } from "./serving-config.ts";
import { writeVerdictKeepingStatus } from "../shared/status-writer.ts";
import { claimStore, stayOffStore, storeConflictPollMs } from "./store-claim.ts";
import { grpcEndpoint } from "./service.ts";
import { desiredVersionObjects } from "./version-objects.ts";

/**
 * How often a model is reconciled while nothing else wakes it. Its children are watched (an edit or a
 * deletion wakes it at once), but the store and the Secrets and claims it references are not: a
 * pointer flipped or deleted by hand or by a deposed leader's late write would otherwise stay until the
 * next edit of the model, readers looking up one version's vectors with the other version's query
 * encoder meanwhile; and a Secret of the live version deleted (or a TLS Secret renewed) under a model
 * without a store went unnoticed until something else woke it, which at rest is never. A settled
 * reconcile reads the store, the Secrets and the cache and writes nothing, as the pipelines' 30 s poll
 * does.
 */
export const modelResyncMs = 30_000;
/** Keys the parity gate samples. */
export const paritySampleSize = 16;
/** Longest a parity measurement may take before the gate says it could not be measured. */
export const defaultParityTimeoutMs = 30_000;

/** What the reconcile needs besides its context. */
export interface ModelReconcileSettings {
  images: Images;
  stores: ModelStores;
  /** How often the pipelines' status is refreshed from the workers (the CaughtUp gate's wording). */
  pipelinePollMs?: number | undefined;
  registry: Registry;
  /** Where the operator reaches a version's gRPC Service (tests and benchmarks outside the cluster). */
  servingEndpoint?: (namespace: string, serviceName: string) => string;
  /** Replaces the parity measurement (tests). */
  measureParity?: typeof measureParity;
  /** The operator's default scheduling of the serving pods. */
  placement?: WorkloadPlacement | undefined;
  /** Replaces modelResyncMs (--model-resync-seconds). */
  modelResyncMs?: number;
  /** Replaces collectionPollMs (--collection-poll-seconds). */
  collectionPollMs?: number;
  /** Replaces defaultParityTimeoutMs (--parity-timeout-seconds). */
  parityTimeoutMs?: number;
  /** The time limit of a changelog's partition count (--external-timeout-seconds; 20 s when absent). */
  externalTimeoutMs?: number;
}

/** Reconciles one EmbeddingModel. */
export async function reconcileEmbeddingModel(
  context: ReconcileContext,
  settings: ModelReconcileSettings,
): Promise<ReconcileResult | void> {
  const reconcileStartedAtMs = Date.now();
  const raw = context.cache.get(resourceTypes.embeddingModel, context.key);
  if (raw === undefined || raw.metadata?.deletionTimestamp !== undefined) {
    // Children are garbage-collected; the model's metrics go with it, and its store connection unless
    // another model uses that store.
    await forgetModel(promotionMetrics(settings.registry), context.key);
    settings.stores.release(`${context.key.namespace}/${context.key.name}`);
    return;
  }
  const parsed = safeParseEmbeddingModel(raw, fromApiServer);
  if (!parsed.success) {
    // A model whose spec cannot be read does nothing with its store until the spec is fixed: its
    // connection is closed unless another model uses that store (a fixed spec opens it again).
    settings.stores.release(`${context.key.namespace}/${context.key.name}`);
    const verdict: Kstatus = { state: "Stalled", reason: "InvalidSpec", message: parsed.error.message };
    await writeVerdictKeepingStatus(context, withApprovalAsSeen(raw), verdict);
    return;
  }
  const model = parsed.data;
  let renderError: Error | undefined;
  try {
    desiredVersionObjects(model, settings.images, settings.placement);
  } catch (error) {
    renderError = error as Error;
  }
  const references = await readReferences(context, model);
  const blockers = [...specBlockers(model, renderError), ...references.blockers];
  const pipelines = pipelinesOfModel(context, model.metadata.name).flatMap((object) => {
    const result = safeParseNearlinePipeline(object, fromApiServer);
    return result.success ? [result.data] : [];
  });
  let store: Store | undefined;
  try {
    store = await openModelStore(context, settings.stores, pipelines);
  } catch (error) {
    if (!(error instanceof StoreSecretMissing)) throw error;
    // Said at once, as the model's other missing references are (not as a ReconcileError a minute of
    // retries later); the Secret's creation is noticed by polling.
    await reportMissingStoreSecret(context, raw, error);
    return { requeueAfterMs: missingReferencePollMs };
  }
  try {
    return await reconcileWithStore(context, settings, {
      model,
      pipelines,
      blockers,
      store,
      reconcileStartedAtMs,
      secrets: references.secrets,
    });
  } catch (error) {
    // A store that stopped answering is the cause to report, not the command that gave up on it.
    throw settings.stores.explain(store, error);
  }
}

/**
 * Stalled with the missing Secret's reason, the rest of the status kept (but an approval removed
 * meanwhile, withApprovalAsSeen): without the store no version can be decided on, deployed or
 * switched to. A Warning Event when the cause is new.
 */
async function reportMissingStoreSecret(
  context: ReconcileContext,
  raw: KubeObject,
  missing: StoreSecretMissing,
): Promise<void> {
  const message = `${missing.message}: no version is deployed or switched to until it exists`;
  const conditions = (raw.status as { conditions?: { type: string; reason?: string; message?: string }[] })
    ?.conditions;
  const stalled = conditions?.find((condition) => condition.type === "Stalled");
  await writeVerdictKeepingStatus(context, withApprovalAsSeen(raw), {
    state: "Stalled",
    reason: missing.reason,
    message,
  });
  if (!conditionSays(stalled, missing.reason, message)) context.events.warning(raw, missing.reason, message);
}

/** The promotion's part of a reconcile: observe, decide, act, write status; once the store is open. */
async function reconcileWithStore(
  context: ReconcileContext,
  settings: ModelReconcileSettings,
  read: {
    model: EmbeddingModel;
    pipelines: NearlinePipeline[];
    blockers: Blocker[];
    store: Store | undefined;
    reconcileStartedAtMs: number;
    secrets: SecretsAsRead;
  },
): Promise<ReconcileResult | void> {
  const { model, pipelines, blockers, store, reconcileStartedAtMs, secrets } = read;
  if (store !== undefined) {
    // Another model owns this store: act on nothing (no flip, GC or bootstrap), say so, look again.
    const database = settings.stores.databaseOf(store);
    const standing = await claimStore(context, model, store, database);
    if (standing.action === "yield") {
      await stayOffStore(context, model, standing, store.layout.prefix, database);
      await recordPromotion(
        promotionMetrics(settings.registry),
        { namespace: context.key.namespace, name: model.metadata.name },
        { specVersion: model.spec.version, phases: {}, gates: [], stalled: true },
      );
      return { requeueAfterMs: storeConflictPollMs };
    }
  }
  let inputs = await observePromotion(context, model, pipelines, store, blockers, settings.pipelinePollMs);
  // Only a decision that may create a run needs to know which cannot be created (Secrets read live).
  const runBlockers = mayBootstrap(inputs)
    ? await unstartableRuns(context, model, pipelines)
    : new Map<string, Blocker>();
  inputs = withRunBlockers(inputs, runBlockers);
  if (settings.collectionPollMs !== undefined)
    inputs = { ...inputs, collectionPollMs: settings.collectionPollMs };
  let decision = decidePromotion(inputs);
  // The runs this decision creates are sized from their changelogs' partition counts, read once here.
  const partitions = new Map<string, number>();
  if (decision.bootstrap !== undefined) {
    const missingTopics = await missingChangelogs(
      context,
      pipelines,
      currentBuildRuns(context, pipelines, decision),
      runBlockers,
      partitions,
      settings.externalTimeoutMs,
    );
    if (missingTopics.size > 0) {
      for (const [name, blocker] of missingTopics) runBlockers.set(name, blocker);
      inputs = withRunBlockers(inputs, runBlockers);
      decision = decidePromotion(inputs);
    }
  }
  if (store !== undefined && gateUnmeasured(decision, "CoverageMet")) {
    const coverage = await observeCoverage(store, model.spec.version, inputs.store?.current ?? null);
    inputs = { ...inputs, candidate: { ...inputs.candidate, coverage } };
    decision = decidePromotion(inputs);
  }
  if (store !== undefined && parityDue(decision))
    decision = await withParity(context, model, inputs, store, pipelines, settings);

  if (decision.switchPointer !== undefined && (await specMovedOn(context, model))) {
    // Readers would follow a pointer the user already moved away from (a revert during the parity
    // measurement, which takes seconds). Decide again on the new spec; nothing was acted on yet.
    context.log.info(
      { target: decision.switchPointer.target },
      "the spec changed while this reconcile was deciding; not switching the pointer, deciding again",
    );
    return { requeueAfterMs: 1 };
  }
  const { switchSeconds, olderVersionProblems } = await actOnPromotion(context, model, decision, {
    store,
    images: settings.images,
    placement: settings.placement,
    pipelines,
    specBlocked: blockers.length > 0,
    changelogPartitions: async (pipeline) =>
      partitions.get(pipeline.metadata.name) ??
      (await changelogPartitions(context, pipeline, settings.externalTimeoutMs)),
    reconcileStartedAtMs,
    secrets,
    runsBlocked: new Set(runBlockers.keys()),
  });
  await writeStatus(context, model, inputs, decision, olderVersionProblems);
  const metrics = promotionMetrics(settings.registry);
  if (switchSeconds !== undefined && decision.switchPointer !== undefined)
    metrics.cutoverSeconds.observe(
      { namespace: context.key.namespace, model: model.metadata.name, kind: decision.switchPointer.kind },
      switchSeconds,
    );
  await recordPromotion(
    metrics,
    { namespace: context.key.namespace, name: model.metadata.name },
    {
      specVersion: model.spec.version,
      phases: decision.phases,
      gates: decision.gates,
      stalled: decision.stalled,
      storeDataLost: decision.storeDataLost,
    },
  );
  // Secrets, claims and the store are not watched: what only their creation or an edit fixes, or
  // what someone changed in the store or deleted of them, is looked at again (every model: one without
  // a store reads its Secrets and claims too).
  const missing =
    blockers.some((blocker) => blocker.recheck === true) ||
    runBlockers.size > 0 ||
    olderVersionProblems.length > 0;
  const waits = [
    decision.requeueAfterMs,
    missing ? missingReferencePollMs : undefined,
    settings.modelResyncMs ?? modelResyncMs,
  ].filter((value): value is number => value !== undefined);
  return { requeueAfterMs: Math.max(1, Math.min(...waits)) };
}

/**
 * The model's spec changed (or it was deleted) since this reconcile read it from the cache: read live,
 * once per pointer switch.
 */
async function specMovedOn(context: ReconcileContext, model: EmbeddingModel): Promise<boolean> {
  const live = await context.client.getLive(resourceTypes.embeddingModel, context.key);
  return live === undefined || live.metadata?.generation !== model.metadata.generation;
}

/** The decision reached `type` and found it unmeasured. */
function gateUnmeasured(decision: PromotionDecision, type: string): boolean {
  return decision.gates.some((gate) => gate.type === type && gate.reason === "Unmeasured");
}

/** The only gate left shut is parity, not measured yet. */
function parityDue(decision: PromotionDecision): boolean {
  const shut = decision.gates.filter((gate) => gate.state !== "Open");
  return (
    shut.length === 1 &&
    shut[0]!.type === "ParityPassed" &&
    (shut[0]!.reason === "Unmeasured" || shut[0]!.reason === "NothingToSample")
  );
}

/** Measures parity, keeps it in the candidate's record (a restart does not measure again), decides again. */
async function withParity(
  context: ReconcileContext,
  model: EmbeddingModel,
  inputs: PromotionInputs,
  store: Store,
  pipelines: readonly NearlinePipeline[],
  settings: ModelReconcileSettings,
): Promise<PromotionDecision> {
  const namespace = context.key.namespace;
  const serviceName = servingName(model.metadata.name, model.spec.version);
  const tokenRef = model.spec.serving.auth?.tokenSecretRef;
  const tlsSecret = model.spec.serving.tls?.secretName;
  const secrets = await readSecrets(context.client, namespace, [
    ...pipelines.flatMap((pipeline) => pipelineSecretNames(pipeline)),
    ...(tokenRef !== undefined ? [tokenRef.name] : []),
    ...(tlsSecret !== undefined ? [tlsSecret] : []),
  ]);
  const parityTimeoutMs = settings.parityTimeoutMs ?? defaultParityTimeoutMs;
  const measuring = AbortSignal.any([context.signal, AbortSignal.timeout(parityTimeoutMs)]);
  const target: ParityTarget = {
    store,
    version: model.spec.version,
    spec: inputs.spec,
    modelDigest: `sha256:${model.spec.model.sha256 ?? model.status?.versions?.find((entry) => entry.version === model.spec.version)?.modelDigest ?? ""}`,
    endpoint: (settings.servingEndpoint ?? ((ns, name) => clusterEndpoint(context, ns, name)))(
      namespace,
      serviceName,
    ),
    token: tokenRef === undefined ? undefined : secrets.get(tokenRef.name)?.get(tokenRef.key)?.toString(),
    // The workers trust the same key (their serving-ca volume).
    servingCa: tlsSecret === undefined ? undefined : secrets.get(tlsSecret)?.get("ca.crt"),
    pipelines,
    secrets,
    sampleSize: paritySampleSize,
    signal: measuring,
  };
  // A measurement that cannot run keeps the gate shut with the reason; the next reconcile tries again.
  // One that does not finish in time is abandoned: it reads the changelog and calls the candidate's
  // server, and a broker or server that never answers must not hold the model's reconcile (and one of
  // the controller's few workers) until it does.
  const parity = await untilAborted((settings.measureParity ?? measureParity)(target), measuring).catch(
    (error: unknown): ParityObservation => ({
      sampled: 0,
      matched: 0,
      error:
        measuring.aborted && !context.signal.aborted
          ? `not finished within ${parityTimeoutMs / 1000} s`
          : (error as Error).message,
    }),
  );
  context.log.info({ version: model.spec.version, parity }, "parity sample measured");
  const records = inputs.records.map((record) =>
    record.version === model.spec.version && parity.sampled > 0 && parity.error === undefined
      ? { ...record, parity }
      : record,
  );
  return decidePromotion({ ...inputs, records, candidate: { ...inputs.candidate, parity } });
}

/**
 * The Service's cluster IP and gRPC port: reachable wherever the operator runs with cluster networking,
 * without depending on cluster DNS; the DNS name when the IP is not known yet.
 */
function clusterEndpoint(context: ReconcileContext, namespace: string, name: string): string {
  const service = context.cache.get(resourceTypes.service, { namespace, name });
  const ip = (service?.spec as { clusterIP?: string } | undefined)?.clusterIP;
  return ip !== undefined && ip !== "None" && ip !== ""
    ? `${ip}:${servingPorts.grpc}`
    : grpcEndpoint(name, namespace);
}

/** The changelog's partition count of a pipeline, which sizes the BootstrapRun the operator creates. */
async function changelogPartitions(
  context: ReconcileContext,
  pipeline: NearlinePipeline,
  externalTimeoutMs: number | undefined,
): Promise<number> {
  const secrets = await readSecrets(context.client, context.key.namespace, pipelineSecretNames(pipeline));
  return (await captureWatermarks(pipeline, secrets, context.signal, externalTimeoutMs)).length;
}

/**
 * Pipelines without a BootstrapRun of the spec's version whose Kafka Secret (or key) is missing: the
 * run is sized from the changelog's partition count, read with those credentials, so it cannot be
 * created yet. Said in the BootstrapComplete gate naming the pipeline, field and Secret (not a failed
 * reconcile retried until it shows as ReconcileError), and looked at again every
 * missingReferencePollMs: Secrets are not watched.
 */
async function unstartableRuns(
  context: ReconcileContext,
  model: EmbeddingModel,
  pipelines: readonly NearlinePipeline[],
): Promise<Map<string, Blocker>> {
  const runs = runsOfVersion(context, pipelines, model.spec.version);
  const blocked = new Map<string, Blocker>();
  for (const pipeline of pipelines) {
    if (runs.some((run) => run.spec.pipelineRef.name === pipeline.metadata.name)) continue;
    const refs = referencedSecrets(pipeline, model).filter((ref) =>
      ref.field.startsWith("spec.source.kafka."),
    );
    if (refs.length === 0) continue;
    const secrets = secretKeys(
      await readSecrets(
        context.client,
        context.key.namespace,
        refs.map((ref) => ref.name),
      ),
    );
    const missing = missingSecretReference(refs, secrets);
    if (missing === undefined) continue;
    blocked.set(pipeline.metadata.name, {
      reason: missing.reason,
      message: lookingAgain(missing.message),
      recheck: true,
    });
  }
  return blocked;
}

/**
 * Pipelines whose changelog topic does not exist, among those without a run of the current build in
 * `runs` (an earlier build's is deleted and made again) and not held back by a missing Kafka Secret
 * (`skip`): the run is sized from the topic's partition count. Said in the BootstrapComplete gate
 * naming the pipeline and field, not a ReconcileError quoting the Kafka client's "Unknown topic" after
 * a minute of retries, and looked at again every missingReferencePollMs: topics are not watched. The
 * counts read are kept in `partitions`, for the runs this reconcile creates.
 */
async function missingChangelogs(
  context: ReconcileContext,
  pipelines: readonly NearlinePipeline[],
  runs: readonly BootstrapRun[],
  skip: ReadonlyMap<string, Blocker>,
  partitions: Map<string, number>,
  externalTimeoutMs: number | undefined,
): Promise<Map<string, Blocker>> {
  const blocked = new Map<string, Blocker>();
  for (const pipeline of pipelines) {
    const name = pipeline.metadata.name;
    if (skip.has(name) || runs.some((run) => run.spec.pipelineRef.name === name)) continue;
    try {
      partitions.set(name, await changelogPartitions(context, pipeline, externalTimeoutMs));
    } catch (error) {
      if (!(error instanceof ChangelogTopicMissing)) throw error;
      blocked.set(name, {
        reason: topicNotFoundReason,
        message: lookingAgain(error.message),
        recheck: true,
      });
    }
  }
  return blocked;
}

/** Secrets a pipeline's Kafka connection needs (parity's source events, the partition count). */
function pipelineSecretNames(pipeline: NearlinePipeline): string[] {
  const kafka = pipeline.spec.source.kafka;
  return [
    kafka.tls?.caSecretRef?.name,
    kafka.tls?.certSecretRef?.name,
    kafka.tls?.keySecretRef?.name,
    kafka.sasl?.usernameSecretRef.name,
    kafka.sasl?.passwordSecretRef.name,
  ].filter((name): name is string => name !== undefined);
}

/**
 * What the serving pods' references block (missing Secrets, keys, claims; a Secret URL naming another
 * artifact), and each Secret found, as read (a renewed TLS certificate rolls the pods): its values
 * stay in memory, for the pod template's stamp of what the server reads (secretStampsOf).
 */
async function readReferences(
  context: ReconcileContext,
  model: EmbeddingModel,
): Promise<{ blockers: Blocker[]; secrets: SecretsAsRead }> {
  const blockers: Blocker[] = [];
  const versions = new Map<string, string>();
  const secrets = Object.assign(new Map<string, Map<string, Buffer>>(), { versions });
  for (const reference of referencedObjects(model)) {
    const type = reference.kind === "Secret" ? resourceTypes.secret : resourceTypes.persistentVolumeClaim;
    const object = await context.client.getLive(type, {
      namespace: model.metadata.namespace ?? "",
      name: reference.name,
    });
    // No value leaves this function but a Secret's tls.crt and tls.key, of which a pod template shows
    // only a digest (secretStampsOf); the lookup holds key names and a redacted URL.
    const data = (object?.data ?? {}) as Record<string, unknown>;
    const blocker = referenceBlocker(reference, referenceLookup(reference, object));
    if (blocker !== undefined) blockers.push(blocker);
    if (reference.kind === "Secret" && object !== undefined) {
      versions.set(reference.name, object.metadata?.resourceVersion ?? "");
      // Of any Secret, not only the spec's TLS one: an older version's record may name another of
      // these as its TLS Secret (promotion-act.ts withTlsSecretOf reads only those not read here).
      secrets.set(reference.name, servingTlsValues(data));
    }
  }
  return { blockers, secrets };
}

async function writeStatus(
  context: ReconcileContext,
  model: EmbeddingModel,
  inputs: PromotionInputs,
  acted: PromotionDecision,
  problems: readonly OlderVersionProblem[],
): Promise<void> {
  // Said beside the verdict (its state and reason unchanged): a Secret or claim an older version
  // still served needs is gone, and its pods cannot start again; the promotion goes on.
  const decision = withOlderVersionProblems(acted, problems);
  const namespace = context.key.namespace;
  const previous = model.status;
  const status = promotionStatus({
    generation: model.metadata.generation ?? 0,
    previous,
    decision,
    specVersion: model.spec.version,
    serving: inputs.serving,
    records: decision.records,
    endpoint: (version) => grpcEndpoint(servingName(model.metadata.name, version), namespace),
    hasData: inputs.store !== undefined,
    candidateLagSeconds: inputs.candidate.lag?.freshnessSeconds,
    now: new Date(),
  });
  await context.client.applyStatus({
    apiVersion: model.apiVersion,
    kind: model.kind,
    metadata: { name: model.metadata.name, namespace: model.metadata.namespace },
    status,
  });
  for (const event of reconcileEvents(previous, acted, problems))
    (event.warning ? context.events.warning : context.events.normal).call(
      context.events,
      model,
      event.reason,
      event.message,
    );
}
