// The embedding versions a pipeline runs workers for, resolved from its EmbeddingModel into exactly
// what a worker needs: model digest, dimensions, prompt templates and the version's serving endpoint.
// The promotion decides which versions are live and records each in its version record (see
// controllers/embedding-model/version-record.ts): the active one, the one being promoted once its
// bootstrap was requested, and the previous one while it drains. Pure.
import type { BootstrapRun, EmbeddingModel } from "../../crds/index.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { fillingRun, isEarlierBuild } from "../shared/filling-run.ts";
import { buildStart, type RecordedSpec, type VersionRecord } from "../embedding-model/version-record.ts";
import { grpcEndpoint } from "../embedding-model/service.ts";
import { servingName } from "../shared/names.ts";
import { reconcileErrorReason } from "../shared/reconcile-error.ts";
import { vectorSettingsOf, type VectorSettings } from "../../store/index.ts";

/** Stalled reasons a model reports before it has recorded (decided) any version. */
const undecidedReasons: ReadonlySet<string> = new Set([
  reconcileErrorReason,
  "SecretNotFound",
  "SecretKeyNotFound",
]);

/** One live embedding version, resolved. */
export interface LiveVersion {
  version: string;
  /** `sha256:<hex>` of the model file; workers refuse vectors from a server reporting another. */
  modelDigest: string;
  dimensions: number;
  /** Prompt template per entity, as the version's EmbeddingModel spec had them. */
  prompts: Readonly<Record<string, string>>;
  /**
   * Pooling, normalize, maxSequenceLength and precision, as the version's spec had them (the API
   * server defaults each; a record without one of them renders none, and its writers check none).
   */
  vectorSettings?: VectorSettings | undefined;
  /** host:port of the version's serving Service. */
  endpoint: string;
  /**
   * How the version's servers take calls (TLS, token, batching limits), as its spec had them: during a
   * promotion each version is served as its record says (version-record.ts), so the spec's settings
   * may be the candidate's only.
   */
  serving: Pick<RecordedSpec["serving"], "tls" | "auth" | "batching">;
  /** Offsets per partition a new version's workers start from (captured for its bootstrap). */
  startOffsets?: readonly PartitionWatermark[] | undefined;
}

/** A version that cannot be rendered yet, and why. */
export interface WaitingVersion {
  version: string;
  reason: string;
  /**
   * Set when only a change of the EmbeddingModel helps: ModelDigestUnknown, the version's spec has no
   * model.sha256 (nothing else supplies a digest). Unset: the wait ends by itself (offsets captured).
   */
  stallReason?: "ModelDigestUnknown";
}

/** Result of resolving a model's live versions: those ready to render, and those still waiting. */
export interface ResolvedVersions {
  versions: LiveVersion[];
  /** Versions that cannot be rendered yet, with the reason (e.g. the digest is not known). */
  waiting: WaitingVersion[];
}

/**
 * The live versions of `model` for one pipeline. With version records, those whose record says its
 * workers run; a version filled by a bootstrap waits until this pipeline's BootstrapRun of it (in
 * `runs`) captured the changelog offsets its workers start from, so nothing between the snapshot and
 * the workers is lost. Without records, none while the EmbeddingModel controller has not looked at
 * the model yet (its status is the CRD default); else (it runs elsewhere, or an older operator) the
 * spec's version is live, as before promotion existed.
 */
export function resolveLiveVersions(
  model: EmbeddingModel,
  records: readonly VersionRecord[] = [],
  runs: readonly BootstrapRun[] = [],
): ResolvedVersions {
  const live = records.filter((record) => record.workers === true);
  // observedGeneration 0 is the CRD's default until a controller first writes the model's status: the
  // EmbeddingModel controller has not looked at it yet and is about to record its versions (a model
  // and its pipelines applied together, as a GitOps sync does). Running the spec version now would
  // start its workers ahead of the promotion, before their serving and BootstrapRun exist, only to
  // remove them again once the records say the version waits for its bootstrap.
  if (records.length === 0 && model.status?.observedGeneration === 0)
    return {
      versions: [],
      waiting: [
        {
          version: model.spec.version,
          reason: `EmbeddingModel ${model.metadata.name} has not been reconciled yet: its versions' workers start once the operator has recorded them`,
        },
      ],
    };
  // The same while its reconcile fails before it could record anything (a store unreachable, a wrong
  // password), or while it waits for a pipeline's store Secret (or key), which it reports before
  // recording any version: the status counts as a look, but nothing was decided yet. Secrets are not
  // watched, so once one is created the pipeline may look again before the model does.
  const failing = model.status?.conditions?.find(
    (condition) =>
      condition.type === "Stalled" &&
      condition.status === "True" &&
      undecidedReasons.has(condition.reason ?? ""),
  );
  if (records.length === 0 && failing !== undefined)
    return {
      versions: [],
      waiting: [
        {
          version: model.spec.version,
          reason: `EmbeddingModel ${model.metadata.name} cannot be reconciled yet (see its Stalled condition): its versions' workers start once the operator has recorded them`,
        },
      ],
    };
  if (records.length === 0) {
    const resolved = resolveVersion(model, model.spec.version, model.spec);
    return "reason" in resolved
      ? { versions: [], waiting: [resolved] }
      : { versions: [resolved], waiting: [] };
  }
  const result: ResolvedVersions = { versions: [], waiting: [] };
  for (const record of live) {
    const resolved = resolveVersion(model, record.version, record.spec);
    if ("reason" in resolved) {
      result.waiting.push(resolved);
      continue;
    }
    if (record.fromBootstrap !== true) {
      result.versions.push(resolved);
      continue;
    }
    // A run of an earlier build (the version promoted again after its vectors were collected) captured
    // offsets of a snapshot the store no longer holds: the workers wait for the current build's run.
    const since = buildStart(record);
    const ofVersion = runs.filter((entry) => entry.spec.modelVersion === record.version);
    const run = fillingRun(ofVersion.filter((entry) => !isEarlierBuild(entry, since)));
    if (run?.spec.source.files !== undefined) result.versions.push(resolved);
    else if (run?.status?.watermarks !== undefined)
      result.versions.push({ ...resolved, startOffsets: run.status.watermarks.partitions });
    else
      result.waiting.push({
        version: record.version,
        reason: `version ${record.version}'s workers start from the offsets its BootstrapRun captures; waiting for them${earlierBuildsSaid(ofVersion, record.version, since)}`,
      });
  }
  return result;
}

/**
 * Why a run of the version that `kubectl get bootstraprun` shows with offsets (Succeeded, most often)
 * is not waited on: it filled an earlier build, its snapshot captured before this build started. Empty
 * when no run of the version is an earlier build's.
 */
function earlierBuildsSaid(
  runs: readonly BootstrapRun[],
  version: string,
  since: string | undefined,
): string {
  const earlier = runs.filter((run) => isEarlierBuild(run, since));
  if (earlier.length === 0) return "";
  const said = earlier.map(
    (run) =>
      `BootstrapRun ${run.metadata.name} filled an earlier build of version ${version} (its snapshot was captured at ${run.status?.watermarks?.capturedTime ?? ""}, before this build started at ${since ?? ""}), so its offsets are not used`,
  );
  return `; ${said.join("; ")}`;
}

/**
 * One version resolved from the spec it was made with. Its digest comes from the model's status or
 * else from the recorded `model.sha256`. The status carries only that same sha256 (the operator never
 * hashes a model file: promotion-status.ts), so without it the version cannot run until the model's
 * spec sets one: a stall, not a wait.
 */
export function resolveVersion(
  model: EmbeddingModel,
  version: string,
  spec: Pick<RecordedSpec, "model" | "prompts" | "serving">,
): LiveVersion | WaitingVersion {
  const observed = model.status?.versions?.find((entry) => entry.version === version);
  const digestHex = observed?.modelDigest ?? spec.model.sha256;
  if (digestHex === undefined)
    return {
      version,
      stallReason: "ModelDigestUnknown",
      reason: `EmbeddingModel ${model.metadata.name} sets no spec.model.sha256 for version ${version}: nearline workers and bootstrap shards refuse vectors from a server whose model digest differs from it, and the operator does not hash model files; set spec.model.sha256 to the SHA-256 of the model file together with a new spec.version (the API server refuses a model change under the same version; while another version is active, kubectl jude rollback ${model.metadata.name} abandons this one)`,
    };
  return {
    version,
    modelDigest: `sha256:${digestHex}`,
    dimensions: spec.model.dimensions,
    prompts: spec.prompts,
    ...(hasVectorSettings(spec.model) ? { vectorSettings: vectorSettingsOf(spec.model) } : {}),
    serving: { tls: spec.serving.tls, auth: spec.serving.auth, batching: spec.serving.batching },
    // The address the model's status will report, so a worker rendered before that status (from the
    // version record alone) is not rolled again when it arrives.
    endpoint:
      observed?.endpoint ??
      grpcEndpoint(servingName(model.metadata.name, version), model.metadata.namespace ?? ""),
  };
}

/** Whether a recorded model has every vector setting (a record written by hand may lack one). */
function hasVectorSettings(model: Partial<VectorSettings>): model is VectorSettings {
  return [model.pooling, model.normalize, model.maxSequenceLength, model.precision].every(
    (value) => value !== undefined,
  );
}
