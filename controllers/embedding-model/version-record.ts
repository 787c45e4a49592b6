// The record of one embedding version: a ConfigMap `<model>-<version>-record` owned by the
// EmbeddingModel that keeps what the spec no longer says once spec.version moved on — the version's
// model, prompts and serving settings (so the operator can serve it again and the pipelines can run
// its workers during the bake period or a rollback) — and the facts of its lifecycle: when its
// promotion started, when readers switched to it and away from it, whether its vectors were
// collected, and whether the pipelines run its workers. It is an observed child like any other,
// so an operator restarted at any step reads the same facts back and resumes there. Pure.
import { isDeepStrictEqual } from "node:util";
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { z } from "zod";
import {
  fromApiServer,
  modelArtifact,
  prompts as promptsSchema,
  safeParseWith,
  serving as servingSchema,
  type EmbeddingModel,
  type EmbeddingModelSpec,
} from "../../crds/index.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { childName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import type { ParityObservation } from "./promotion-gates.ts";

/** The parts of a spec that make (model, prompts) and serve (serving) one version. */
export type RecordedSpec = Pick<EmbeddingModelSpec, "model" | "prompts" | "serving">;

/** What the operator remembers of one version. Times are RFC 3339. */
export interface VersionRecord {
  version: string;
  spec: RecordedSpec;
  /** When this version first became the spec's version (the promotion deadline counts from here). */
  promotionStartTime: string;
  /**
   * When the current build of this version started, if later than the promotion (the store lost the
   * build and it is bootstrapped again): BootstrapRuns whose snapshot predates it are an earlier
   * build's. A new build alone never restarts the deadline, so a store that keeps losing its data
   * stalls.
   */
  buildStartTime?: string;
  /**
   * When every gate of the version last passed while it waited for approval (cutover Manual). The
   * deadline measures the time to get there: a gate that shuts after it (the store lost the build, a
   * pod failed) starts a new deadline window (`deadlineStartTime`) rather than failing the version at
   * once because the approval took longer than `progressDeadlineSeconds`.
   */
  awaitingApprovalTime?: string;
  /** When the current deadline window started, if later than the promotion (see awaitingApprovalTime). */
  deadlineStartTime?: string;
  /**
   * The store the version's build fills: the one the pipelines named when the decision last asked for
   * its BootstrapRun. A succeeded run whose build another store lacks was left behind by a move of
   * the pipelines (StoreChanged), not lost by its store. Absent in records of older operators.
   */
  buildStore?: string;
  /** When readers last switched to it. */
  activatedTime?: string;
  /** When readers last switched away from it (the bake period counts from here). */
  deactivatedTime?: string;
  /** Its vectors were garbage-collected: a rollback to it promotes it from scratch. */
  collected?: boolean;
  /**
   * Whether the pipelines run its nearline workers (decided by the promotion). A pipeline starts a
   * bootstrapped version's workers once its own BootstrapRun for the version captured the offsets.
   */
  workers?: boolean;
  /** The parity sample of this version, once measured (a failed one keeps it Stalled). */
  parity?: ParityObservation;
  /** Its workers start from the offsets captured by its BootstrapRuns (false: a retained version resumes). */
  fromBootstrap?: boolean;
  /**
   * The store still held an earlier build of this version when it became the spec's version again
   * (superseded, its record dropped before its vectors were collected): collected before this build.
   */
  earlierBuildInStore?: boolean;
  /**
   * The store its vectors are in (the pipelines' spec.sinks.store.name), noted once the store's pointer
   * names it and kept when no pipeline names the store: readers of a model whose pipelines were
   * deleted still use the active version's vectors there, so no other version is promoted without
   * them. "" when the name is not known (a record an older operator wrote for a version whose workers
   * ran or whose build started, the safe reading of a record that does not say).
   */
  store?: string;
}

const dataKeys = {
  version: "version",
  spec: "spec.json",
  promotionStartTime: "promotionStartTime",
  buildStartTime: "buildStartTime",
  awaitingApprovalTime: "awaitingApprovalTime",
  deadlineStartTime: "deadlineStartTime",
  buildStore: "buildStore",
  activatedTime: "activatedTime",
  deactivatedTime: "deactivatedTime",
  collected: "collected",
  workers: "workers",
  fromBootstrap: "fromBootstrap",
  parity: "parity.json",
  earlierBuildInStore: "earlierBuildInStore",
  store: "store",
  /** "true" or "false", written by every operator that notes the store; absent in older records. */
  inStore: "inStore",
} as const;

/** Name of a version's record ConfigMap. */
export function versionRecordName(model: string, embeddingVersion: string): string {
  return childName(model, embeddingVersion, "record");
}

/** Label selector of every record of a model (the pipelines list them to find live versions). */
export function versionRecordSelector(model: string): Record<string, string> {
  return childLabels("version-record", { model }).selector;
}

/** A value as JSON carries it: what a record's spec.json keeps of it (no undefined members). */
function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/**
 * A spec part as this release knows it, for comparing: without the fields of a newer release (a
 * record it wrote, read after an image rollback with its CRDs kept), as the live model is read
 * (crds/resource.ts fromApiServer). The record itself keeps them: it is written back as it was read.
 */
function knownPart(schema: z.ZodType, value: unknown): unknown {
  if (value === undefined) return undefined;
  const parsed = safeParseWith(schema, value, fromApiServer);
  return asJson(parsed.success ? parsed.data : value);
}

/**
 * Whether two specs make the same vectors: the same model artifact and the same prompts, as far as
 * this release knows them (knownPart). Compared as values, not as text: a record keeps its fields in
 * the order the release that wrote it declared them.
 */
export function sameVectors(a: RecordedSpec, b: RecordedSpec): boolean {
  return (
    isDeepStrictEqual(knownPart(modelArtifact, a.model), knownPart(modelArtifact, b.model)) &&
    isDeepStrictEqual(knownPart(promptsSchema, a.prompts), knownPart(promptsSchema, b.prompts))
  );
}

/**
 * One part of a recorded spec as this release reads it: with the defaults of fields the release that
 * wrote the record did not have yet (the API server fills them in on the live model from the upgraded
 * CRD, so without them every older version looked redefined, and its objects rendered without them).
 * As written when this release cannot validate it (a field of a newer release, after a downgrade):
 * the version is still known and served as before, which beats forgetting it, and its record is
 * written back with that field (dropping it would lose it for the newer release's return).
 */
function readSpecPart<T>(schema: z.ZodType, value: unknown): T {
  const parsed = schema.safeParse(value);
  return (parsed.success ? parsed.data : value) as T;
}

/** The recorded serving settings: a record always has them; the spec defaults them from {}. */
const recordedServing = servingSchema.prefault({});

/** A recorded spec read with this release's defaults (see readSpecPart); parts it lacks stay absent. */
function readRecordedSpec(written: RecordedSpec): RecordedSpec {
  if (typeof written !== "object" || written === null) return written;
  const read = { ...written };
  if ("model" in written) read.model = readSpecPart<RecordedSpec["model"]>(modelArtifact, written.model);
  if ("prompts" in written)
    read.prompts = readSpecPart<RecordedSpec["prompts"]>(promptsSchema, written.prompts);
  if ("serving" in written)
    read.serving = readSpecPart<RecordedSpec["serving"]>(recordedServing, written.serving);
  return read;
}

/**
 * `spec` (the live model's, read without a newer release's fields) as the record of a version already
 * recorded as `previous` keeps it: each part (model, prompts, serving) that is the same as far as this
 * release knows keeps what `previous` wrote, a newer release's fields included, so an image rollback
 * does not erase them from the records that release finds again on its return.
 */
export function keptAsWritten(previous: RecordedSpec, spec: RecordedSpec): RecordedSpec {
  const same = (schema: z.ZodType, a: unknown, b: unknown) =>
    isDeepStrictEqual(knownPart(schema, a), knownPart(schema, b));
  return {
    ...spec,
    model: same(modelArtifact, previous.model, spec.model) ? previous.model : spec.model,
    prompts: same(promptsSchema, previous.prompts, spec.prompts) ? previous.prompts : spec.prompts,
    serving: same(recordedServing, previous.serving, spec.serving) ? previous.serving : spec.serving,
  };
}

/** The recorded spec of the spec's own version. */
export function recordedSpec(model: EmbeddingModel): RecordedSpec {
  return { model: model.spec.model, prompts: model.spec.prompts, serving: model.spec.serving };
}

/**
 * The model as it was when `record` was its spec's version, sized as the spec says now: what the
 * serving builders render. What defines the version (model, prompts, and the serving settings chosen
 * for that model: image, accelerator, resources, placement, batching, TLS, auth) is its record's; its
 * capacity (`serving.replicas` or `serving.autoscaling`) follows the spec, for every served version.
 * A promotion runs for hours (a large bootstrap) while the active version carries every reader: a
 * traffic spike must be answerable by editing the spec, and `kubectl scale` is taken back by the next
 * apply. Resources and accelerator stay per version because they are sized for its model (a smaller
 * candidate's memory limit would kill the active version's larger model).
 */
export function modelAtVersion(model: EmbeddingModel, record: VersionRecord): EmbeddingModel {
  const serving = servingAtVersion(record.spec.serving, model.spec.serving);
  return { ...model, spec: { ...model.spec, ...record.spec, serving, version: record.version } };
}

/** A version's recorded serving settings with the capacity of `current` (see modelAtVersion). */
export function servingAtVersion(
  recorded: RecordedSpec["serving"],
  current: RecordedSpec["serving"],
): RecordedSpec["serving"] {
  const { replicas: _replicas, autoscaling: _autoscaling, ...defining } = recorded;
  const { replicas, autoscaling } = current;
  return {
    ...defining,
    ...(replicas !== undefined ? { replicas } : {}),
    ...(autoscaling !== undefined ? { autoscaling } : {}),
  };
}

/**
 * The record without what belongs to one promotion attempt (its rebuild, the store its build fills,
 * its approval wait and deadline window): a later promotion of the version starts without them.
 */
export function withoutAttempt(record: VersionRecord): VersionRecord {
  const {
    buildStartTime: _build,
    buildStore: _store,
    awaitingApprovalTime: _wait,
    deadlineStartTime: _window,
    ...kept
  } = record;
  return kept;
}

/** When the version's current build started: BootstrapRuns whose snapshot predates it are earlier builds'. */
export function buildStart(record: VersionRecord | undefined): string | undefined {
  return record?.buildStartTime ?? record?.promotionStartTime;
}

/** The record ConfigMap to apply. */
export function desiredVersionRecord(model: EmbeddingModel, record: VersionRecord): V1ConfigMap {
  const { labels } = childLabels("version-record", {
    model: model.metadata.name,
    embeddingVersion: record.version,
  });
  const data: Record<string, string> = {
    [dataKeys.version]: record.version,
    [dataKeys.spec]: JSON.stringify(record.spec),
    [dataKeys.promotionStartTime]: record.promotionStartTime,
  };
  if (record.buildStartTime !== undefined) data[dataKeys.buildStartTime] = record.buildStartTime;
  if (record.awaitingApprovalTime !== undefined)
    data[dataKeys.awaitingApprovalTime] = record.awaitingApprovalTime;
  if (record.deadlineStartTime !== undefined) data[dataKeys.deadlineStartTime] = record.deadlineStartTime;
  if (record.buildStore !== undefined) data[dataKeys.buildStore] = record.buildStore;
  if (record.activatedTime !== undefined) data[dataKeys.activatedTime] = record.activatedTime;
  if (record.deactivatedTime !== undefined) data[dataKeys.deactivatedTime] = record.deactivatedTime;
  if (record.collected === true) data[dataKeys.collected] = "true";
  if (record.workers === true) data[dataKeys.workers] = "true";
  if (record.fromBootstrap === true) data[dataKeys.fromBootstrap] = "true";
  if (record.parity !== undefined) data[dataKeys.parity] = JSON.stringify(record.parity);
  if (record.earlierBuildInStore === true) data[dataKeys.earlierBuildInStore] = "true";
  data[dataKeys.inStore] = String(record.store !== undefined);
  if (record.store) data[dataKeys.store] = record.store;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: versionRecordName(model.metadata.name, record.version),
      namespace: model.metadata.namespace,
      labels,
      ownerReferences: [controllerRef(model)],
    },
    data,
  };
}

/** Reads a record back from its ConfigMap; undefined for one that is not a readable record. */
export function parseVersionRecord(configMap: {
  data?: Record<string, string> | undefined;
  metadata?: { labels?: Record<string, string> | undefined } | undefined;
}): VersionRecord | undefined {
  const data = configMap.data ?? {};
  const version = data[dataKeys.version] ?? configMap.metadata?.labels?.[labelKeys.embeddingVersion];
  const specText = data[dataKeys.spec];
  const started = data[dataKeys.promotionStartTime];
  if (version === undefined || specText === undefined || started === undefined) return undefined;
  let spec: RecordedSpec;
  let parity: ParityObservation | undefined;
  try {
    spec = readRecordedSpec(JSON.parse(specText) as RecordedSpec);
    const parityText = data[dataKeys.parity];
    parity = parityText === undefined ? undefined : (JSON.parse(parityText) as ParityObservation);
  } catch {
    return undefined;
  }
  // Older operators did not note the store; workers ran, and builds started, only in one.
  const noted = data[dataKeys.inStore];
  const inStore =
    noted !== undefined
      ? noted === "true"
      : data[dataKeys.workers] === "true" || data[dataKeys.fromBootstrap] === "true";
  const store = inStore ? (data[dataKeys.store] ?? "") : undefined;
  return {
    version,
    spec,
    promotionStartTime: started,
    ...(data[dataKeys.buildStartTime] !== undefined ? { buildStartTime: data[dataKeys.buildStartTime] } : {}),
    ...(data[dataKeys.awaitingApprovalTime] !== undefined
      ? { awaitingApprovalTime: data[dataKeys.awaitingApprovalTime] }
      : {}),
    ...(data[dataKeys.deadlineStartTime] !== undefined
      ? { deadlineStartTime: data[dataKeys.deadlineStartTime] }
      : {}),
    ...(data[dataKeys.buildStore] ? { buildStore: data[dataKeys.buildStore] } : {}),
    ...(data[dataKeys.activatedTime] !== undefined ? { activatedTime: data[dataKeys.activatedTime] } : {}),
    ...(data[dataKeys.deactivatedTime] !== undefined
      ? { deactivatedTime: data[dataKeys.deactivatedTime] }
      : {}),
    ...(data[dataKeys.collected] === "true" ? { collected: true } : {}),
    ...(data[dataKeys.workers] === "true" ? { workers: true } : {}),
    ...(data[dataKeys.fromBootstrap] === "true" ? { fromBootstrap: true } : {}),
    ...(parity !== undefined ? { parity } : {}),
    ...(data[dataKeys.earlierBuildInStore] === "true" ? { earlierBuildInStore: true } : {}),
    ...(store !== undefined ? { store } : {}),
  };
}
