// Carries out a promotion decision, in an order that keeps every intermediate state safe to resume
// from: the store pointer first (records then say what happened), the records, each served version's
// objects (then its superseded config ConfigMaps, once no pod mounts them), the query Service (moved
// in the same reconcile as the flip), removal of what is no longer served, the BootstrapRuns, and one
// bounded garbage-collection step.
import { isDeepStrictEqual } from "node:util";
import type { V1Deployment } from "@kubernetes/client-node";
import type { BootstrapRun, BootstrapRunInput, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { apiVersion } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { deleteVersionStep, flip, isStoreError, rollback, type Store } from "../../store/index.ts";
import type { Images } from "../shared/image.ts";
import { deleteRunCheckpoints } from "../../pipelines/bootstrap/checkpoint-store.ts";
import { promotionShardCount } from "../bootstrap-run/shard-count.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { promotionBootstrapRunName } from "../shared/names.ts";
import { childApply, controllerRef, isOrphaned } from "../shared/owner.ts";
import { madeByModel, orphanedRunOf } from "../shared/model-runs.ts";
import { keepRunningSecretStamps } from "../shared/running-secret-stamps.ts";
import type { SecretsAsRead } from "../shared/secret-wiring.ts";
import { runsOfVersion } from "./promotion-observe.ts";
import { isEarlierBuild } from "../shared/filling-run.ts";
import type { PointerSwitch, PromotionDecision } from "./promotion.ts";
import { referenceLookup } from "./blockers.ts";
import { olderVersionProblem, type OlderVersionProblem } from "./older-version-references.ts";
import { referencedObjects, type Reference } from "./references.ts";
import { deleteDroppedAutoscaler, holdReplicasForAutoscaler, replicasFloor } from "./replicas-ownership.ts";
import { deleteRetiredVersions } from "./retire-versions.ts";
import { servingTlsValues } from "./serving-config.ts";
import { deleteSupersededServingConfigs } from "./serving-config-collection.ts";
import { desiredQueryService } from "./service.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { desiredVersionObjects } from "./version-objects.ts";
import {
  buildStart,
  desiredVersionRecord,
  modelAtVersion,
  versionRecordName,
  versionRecordSelector,
} from "./version-record.ts";

/** Buckets one reconcile garbage-collects at most (a step is cheap; the next reconcile continues). */
export const gcBucketsPerReconcile = 256;

/** What acting needs besides the decision. */
export interface ActOptions {
  store: Store | undefined;
  images: Images;
  /** The operator's default scheduling of the serving pods. */
  placement?: WorkloadPlacement | undefined;
  pipelines: readonly NearlinePipeline[];
  /** The spec's version cannot be rendered (its objects are left as they are). */
  specBlocked: boolean;
  /** When the reconcile acting began (logged with a pointer switch). */
  reconcileStartedAtMs: number;
  /** Partitions of a pipeline's changelog (asked only when a BootstrapRun is created). */
  changelogPartitions: (pipeline: NearlinePipeline) => Promise<number>;
  /** Pipelines whose run cannot be created yet (a Kafka Secret missing): none is, the gate says why. */
  runsBlocked?: ReadonlySet<string>;
  /** The Secrets the serving pods reference, as read this reconcile. */
  secrets?: SecretsAsRead;
}

/** What acting did and found. */
export interface ActOutcome {
  /** The seconds the pointer switch took, if one was made. */
  switchSeconds?: number | undefined;
  /** What the older versions it serves need (their records' Secrets and claims) and cannot find. */
  olderVersionProblems: OlderVersionProblem[];
}

/** Applies the decision. */
export async function actOnPromotion(
  context: ReconcileContext,
  model: EmbeddingModel,
  decision: PromotionDecision,
  options: ActOptions,
): Promise<ActOutcome> {
  let switchSeconds: number | undefined;
  const change = decision.switchPointer;
  if (change !== undefined && options.store !== undefined) {
    // Store writes are not API writes: fenced here, so a replica that lost the Lease while it decided
    // (a stopped process that resumed) does not flip what the new leader may have decided against.
    context.fence?.();
    switchSeconds = await switchPointer(options.store, change);
    // From the start of the reconcile that observed the change to the pointer readers follow: the
    // figure behind "rollback at once" (README, promotion e2e).
    context.log.info(
      {
        kind: change.kind,
        from: change.expectedCurrent,
        to: change.target,
        reconcileStartedAtMs: options.reconcileStartedAtMs,
        switchedAtMs: Date.now(),
        switchSeconds,
      },
      "store pointer switched",
    );
  }
  await applyRecords(context, model, decision);
  const records = new Map(decision.records.map((record) => [record.version, record]));
  const olderVersionProblems: OlderVersionProblem[] = [];
  const liveReads = new Map<string, Promise<SecretObject | undefined>>();
  const specReferences = referencedObjects(model);
  for (const version of decision.serve) {
    if (version === model.spec.version && options.specBlocked) continue;
    // Each version as its record says, sized as the spec says (modelAtVersion): the spec's own record
    // carries the spec, except when the spec reuses the name for another model (VersionRedefined),
    // whose served model must not change.
    const record = records.get(version);
    const rendered = record === undefined ? model : modelAtVersion(model, record);
    const floor = version === model.spec.version ? replicasFloor(context, model) : undefined;
    const read = (reference: Pick<Reference, "kind" | "name">) =>
      readOnce(context, rendered, reference, liveReads);
    // The spec's references were checked before deciding (they block the spec's version); an older
    // version's, from its record, are checked here: missing, they are said, not waited for. So are
    // those of the spec's version served from its record (VersionRedefined) that the spec does not name.
    if (record !== undefined)
      for (const reference of referencedObjects(rendered)) {
        if (
          version === model.spec.version &&
          specReferences.some((named) => isDeepStrictEqual(named, reference))
        )
          continue;
        const problem = olderVersionProblem(
          version,
          reference,
          referenceLookup(reference, await read(reference)),
        );
        if (problem !== undefined) olderVersionProblems.push(problem);
      }
    const objects = desiredVersionObjects(
      rendered,
      options.images,
      options.placement,
      floor,
      await withTlsSecretOf(rendered, options.secrets, read),
    ) as KubeObject[];
    if (!objects.some((object) => object.kind === "HorizontalPodAutoscaler"))
      await deleteDroppedAutoscaler(context, model, version);
    let deployment: KubeObject | undefined;
    for (const object of objects) {
      if (object.kind === "Deployment") {
        await holdReplicasForAutoscaler(context, object as V1Deployment);
        keepRunningSecretStamps(context, object as V1Deployment);
      }
      const applied = await context.client.apply(object, childApply);
      if (object.kind === "Deployment") deployment = applied;
    }
    await deleteSupersededServingConfigs(context, model, version, objects, deployment);
  }
  await context.client.apply(desiredQueryService(model, decision.queryVersion), childApply);
  await deleteRetiredVersions(context, model, decision.serve);
  await reconcileRuns(context, model, decision, options);
  if (options.store !== undefined) await collectStep(context, options.store, decision.collect);
  return { switchSeconds, olderVersionProblems };
}

type SecretObject = KubeObject & { data?: Record<string, unknown> };

/** `reference` of `rendered` read live, once per reconcile however many versions name it. */
function readOnce(
  context: ReconcileContext,
  rendered: EmbeddingModel,
  reference: Pick<Reference, "kind" | "name">,
  reads: Map<string, Promise<SecretObject | undefined>>,
): Promise<SecretObject | undefined> {
  const key = `${reference.kind}/${reference.name}`;
  let read = reads.get(key);
  if (read === undefined) {
    const type = reference.kind === "Secret" ? resourceTypes.secret : resourceTypes.persistentVolumeClaim;
    read = context.client.getLive<SecretObject>(type, {
      namespace: rendered.metadata.namespace ?? context.key.namespace,
      name: reference.name,
    });
    reads.set(key, read);
  }
  return read;
}

/**
 * `secrets` with the TLS Secret `rendered` serves with, read now when the reconcile did not (it read
 * the spec's references; an older version's record may name another Secret): stamped `absent`, that
 * version's pods would roll once and never again at a renewal of their certificate.
 */
async function withTlsSecretOf(
  rendered: EmbeddingModel,
  secrets: SecretsAsRead | undefined,
  read: (reference: Pick<Reference, "kind" | "name">) => Promise<SecretObject | undefined>,
): Promise<SecretsAsRead | undefined> {
  const name = rendered.spec.serving.tls?.secretName;
  if (secrets === undefined || name === undefined || secrets.has(name)) return secrets;
  const object = await read({ kind: "Secret", name });
  if (object === undefined) return secrets;
  const versions = new Map([...secrets.versions, [name, object.metadata?.resourceVersion ?? ""]]);
  return Object.assign(new Map([...secrets, [name, servingTlsValues(object.data ?? {})]]), { versions });
}

/** Flips (or rolls back) the pointer; a repeat of a switch that already happened is a no-op. */
async function switchPointer(store: Store, change: PointerSwitch): Promise<number> {
  const started = performance.now();
  const request = {
    expectedCurrent: change.expectedCurrent,
    target: change.target,
    ...(change.minEpoch !== undefined ? { minEpoch: change.minEpoch } : {}),
  };
  await (change.kind === "rollback" ? rollback(store, request) : flip(store, request));
  return (performance.now() - started) / 1000;
}

async function applyRecords(context: ReconcileContext, model: EmbeddingModel, decision: PromotionDecision) {
  const wanted = new Set<string>();
  for (const record of decision.records) {
    const configMap = desiredVersionRecord(model, record);
    wanted.add(configMap.metadata!.name!);
    await context.client.apply(configMap, childApply);
  }
  const existing = context.cache.list(resourceTypes.configMap, {
    namespace: context.key.namespace,
    labels: versionRecordSelector(model.metadata.name),
  });
  for (const configMap of existing) {
    const name = configMap.metadata?.name ?? "";
    const owners = configMap.metadata?.ownerReferences ?? [];
    const owned = owners.some((owner) => owner.uid === model.metadata.uid);
    // An orphaned record this model adopted when it read it (record-reader.ts) and no longer keeps:
    // left, it would be read and decided on again in every reconcile (a superseded build collected anew).
    const version = configMap.metadata?.labels?.[labelKeys.embeddingVersion];
    const adopted =
      isOrphaned(configMap) &&
      version !== undefined &&
      versionRecordName(model.metadata.name, version) === name;
    if ((owned || adopted) && !wanted.has(name))
      await context.client.delete(resourceTypes.configMap, { namespace: context.key.namespace, name });
  }
}

/**
 * The BootstrapRun the operator creates for one pipeline of a version it promotes, with one shard per
 * changelog partition up to a cap (bootstrap-run/shard-count.ts), and its shards given the pipeline's
 * worker resources (the same decode, prompt, embed and write work): without them the shards ran with
 * no requests or limits, refused where a ResourceQuota requires limits and scheduled anywhere, and no
 * field could change that (a run's resources are fixed at its creation). A user wanting other resources
 * applies the run for that pipeline and version, which is adopted with its own settings.
 */
export function desiredBootstrapRun(
  model: EmbeddingModel,
  pipeline: NearlinePipeline,
  embeddingVersion: string,
  partitions: number,
): BootstrapRunInput {
  const name = promotionBootstrapRunName(pipeline.metadata.name, embeddingVersion);
  const { labels } = childLabels("bootstrap", {
    model: model.metadata.name,
    embeddingVersion,
    pipeline: pipeline.metadata.name,
  });
  return {
    apiVersion,
    kind: "BootstrapRun",
    metadata: { name, namespace: model.metadata.namespace, labels, ownerReferences: [controllerRef(model)] },
    spec: {
      pipelineRef: { name: pipeline.metadata.name },
      modelVersion: embeddingVersion,
      source: { kafkaSnapshot: {} },
      parallelism: promotionShardCount(partitions),
      ...(pipeline.spec.workers.resources !== undefined
        ? { resources: pipeline.spec.workers.resources }
        : {}),
    },
  };
}

/**
 * The runs of the decision's bootstrap version that fill its current build. One whose snapshot predates
 * the build's start (an earlier build's) is deleted and made again, sized from the changelog anew.
 */
export function currentBuildRuns(
  context: ReconcileContext,
  pipelines: readonly NearlinePipeline[],
  decision: Pick<PromotionDecision, "bootstrap" | "records">,
): BootstrapRun[] {
  const version = decision.bootstrap;
  if (version === undefined) return [];
  const since = buildStart(decision.records.find((record) => record.version === version));
  return runsOfVersion(context, pipelines, version).filter((run) => !isEarlierBuild(run, since));
}

/**
 * Creates the candidate's run for every pipeline that has none (a run the user created for the
 * pipeline and version is adopted as it is), and deletes the runs this model created for versions
 * it no longer records (superseded), so their shards stop writing.
 */
async function reconcileRuns(
  context: ReconcileContext,
  model: EmbeddingModel,
  decision: PromotionDecision,
  options: Pick<ActOptions, "pipelines" | "changelogPartitions" | "store" | "runsBlocked">,
): Promise<void> {
  if (decision.bootstrap !== undefined) {
    const version = decision.bootstrap;
    const since = buildStart(decision.records.find((record) => record.version === version));
    const existing: BootstrapRun[] = [];
    for (const run of runsOfVersion(context, options.pipelines, version)) {
      if (!isEarlierBuild(run, since)) existing.push(run);
      else if (madeByModel(run, model)) {
        context.log.info(
          { run: run.metadata.name, version },
          "deleting the BootstrapRun of an earlier build",
        );
        await deleteRun(context, options.store, run.metadata.name, run.spec.parallelism);
      }
    }
    for (const pipeline of options.pipelines) {
      const adopt = existing.find(
        (run) =>
          run.spec.pipelineRef.name === pipeline.metadata.name &&
          orphanedRunOf(run, model) &&
          run.metadata.name === promotionBootstrapRunName(pipeline.metadata.name, version),
      );
      // Its own run, orphaned: adopted as it is (its shard count and resources kept: the resources are
      // immutable, and the pipeline's may have changed since), like its records.
      if (adopt !== undefined) {
        const run = desiredBootstrapRun(model, pipeline, version, 1);
        run.spec.parallelism = adopt.spec.parallelism;
        delete run.spec.resources;
        if (adopt.spec.resources !== undefined) run.spec.resources = adopt.spec.resources;
        await context.client.apply(run as KubeObject, childApply);
      }
      if (existing.some((run) => run.spec.pipelineRef.name === pipeline.metadata.name)) continue;
      if (options.runsBlocked?.has(pipeline.metadata.name) === true) continue;
      const partitions = await options.changelogPartitions(pipeline);
      const run = desiredBootstrapRun(model, pipeline, decision.bootstrap, partitions);
      await context.client.apply(run as KubeObject, childApply);
    }
  }
  const recorded = new Set(decision.records.map((record) => record.version));
  for (const raw of context.cache.list(resourceTypes.bootstrapRun, { namespace: context.key.namespace })) {
    const version = (raw.spec as { modelVersion?: string } | undefined)?.modelVersion;
    if (madeByModel(raw, model) && version !== undefined && !recorded.has(version)) {
      context.log.info(
        { run: raw.metadata?.name, version },
        "deleting the BootstrapRun of a superseded version",
      );
      const parallelism = (raw.spec as { parallelism?: number } | undefined)?.parallelism ?? 1;
      await deleteRun(context, options.store, raw.metadata!.name!, parallelism);
    }
  }
}

/** One bounded GC step over the versions to collect. */
async function collectStep(
  context: ReconcileContext,
  store: Store,
  versions: readonly string[],
): Promise<void> {
  let budget = gcBucketsPerReconcile;
  for (const version of versions) {
    if (budget <= 0) return;
    try {
      context.fence?.();
      const step = await deleteVersionStep(store, version, { maxBuckets: budget });
      budget -= Math.max(1, step.bucketsRemoved);
      context.log.info(
        { version, nextBucket: step.nextBucket, done: step.done },
        "garbage-collecting a version's vectors",
      );
    } catch (error) {
      // Collected meanwhile, or protected as current/backup: the next observation says which.
      if (isStoreError(error) && (error.code === "VERSION_NOT_FOUND" || error.code === "PRECONDITION_FAILED"))
        continue;
      throw error;
    }
  }
}

/**
 * Deletes a run the model created whose vectors go too (superseded, or of an earlier build), with its
 * shards' checkpoints: a later run of the same name and snapshot would resume them and skip the work.
 */
async function deleteRun(
  context: ReconcileContext,
  store: Store | undefined,
  name: string,
  parallelism: number,
): Promise<void> {
  const namespace = context.key.namespace;
  await context.client.delete(resourceTypes.bootstrapRun, { namespace, name });
  if (store !== undefined)
    await deleteRunCheckpoints(store.client, store.layout.prefix, { namespace, name }, parallelism);
}
