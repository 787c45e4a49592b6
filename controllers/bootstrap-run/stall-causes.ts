// Why a BootstrapRun cannot start until someone changes a resource: its pipeline is missing or stuck
// itself, a files source with a pipeline that takes ids from record keys, its model is kept off the
// store (another model owns it), or the model does not serve the version the run fills. Checked only before the Job exists.
import type { BootstrapRun, NearlinePipeline } from "../../crds/index.ts";
import { storeConflictReason } from "../embedding-model/store-claim.ts";
import { findCondition, type Kstatus } from "../shared/conditions.ts";
import type { ResolvedVersions } from "../nearline-pipeline/live-versions.ts";
import { pipelineStallCause, type PipelineSurroundings } from "../nearline-pipeline/stall-causes.ts";
import { createdMs } from "./run-created.ts";

/** What the controller read about a run's surroundings. */
export interface RunSurroundings {
  run: BootstrapRun;
  /** The pipeline's own surroundings; undefined when spec.pipelineRef names no pipeline. */
  pipeline: PipelineSurroundings | undefined;
  /** The live versions of the pipeline's model (empty when the model is missing). */
  versions: ResolvedVersions;
}

/** The first reason `run` cannot start, or undefined. */
export function runStallCause(surroundings: RunSurroundings): Kstatus | undefined {
  const { run, pipeline, versions } = surroundings;
  if (pipeline === undefined)
    return {
      state: "Stalled",
      reason: "PipelineNotFound",
      message: `spec.pipelineRef.name: NearlinePipeline ${run.spec.pipelineRef.name} does not exist in namespace ${run.metadata.namespace ?? "default"}`,
    };
  const cause = pipelineStallCause(pipeline);
  if (cause !== undefined) {
    // A Secret reference's message names its object ("NearlinePipeline jobs: spec.sinks…"): said once.
    const name = `NearlinePipeline ${pipeline.pipeline.metadata.name}`;
    const message = cause.message.startsWith(`${name}: `)
      ? cause.message.slice(name.length + 2)
      : cause.message;
    return { ...cause, message: `${name} cannot run: ${message}` };
  }
  // File lines have no record key: the id must be inside the value. The shards would refuse the
  // config at start and the Job fail its retries with only a log line saying why.
  const decode = pipeline.pipeline.spec.decode;
  if (run.spec.source.files !== undefined && decode.keyPath === undefined)
    return {
      state: "Stalled",
      reason: "KeyPathRequired",
      message: `spec.source.files: file lines have no record key, so NearlinePipeline ${pipeline.pipeline.metadata.name} must name the entity id inside the value with spec.decode.keyPath; it takes the id from the record key${decode.recordKeyPath !== undefined ? ` (decode.recordKeyPath ${decode.recordKeyPath})` : ""}`,
    };
  // The model controller decides who owns a store (and takes it over from a deleted owner); a run
  // of a model it keeps off the store would write vectors into another model's store.
  const model = pipeline.model!;
  const ready = findCondition(model.status?.conditions, "Ready");
  if (ready?.status === "False" && ready.reason === storeConflictReason)
    return {
      state: "Stalled",
      reason: storeConflictReason,
      message: `EmbeddingModel ${model.metadata.name} is kept off store ${pipeline.pipeline.spec.sinks.store.name}, so this run would write into another model's store: ${ready.message}`,
    };
  const version = run.spec.modelVersion;
  const known = [
    ...versions.versions.map((entry) => entry.version),
    ...versions.waiting.map((entry) => entry.version),
  ];
  if (!known.includes(version))
    return {
      state: "Stalled",
      reason: "VersionNotServed",
      message: `spec.modelVersion: EmbeddingModel ${pipeline.model?.metadata.name ?? ""} does not serve version ${version} (live: ${known.join(", ") || "none"})`,
    };
  return undefined;
}

/**
 * How long after its creation a run takes a missing NearlinePipeline, EmbeddingModel or model version
 * as one applied with it and not seen yet, rather than as a mistake. Flux applies one commit's custom
 * resources in kind-name order (BootstrapRun before EmbeddingModel and NearlinePipeline), Argo CD
 * those of one sync wave together in object-name order, `kubectl apply -f dir/` by file name: a run
 * in the same commit as its pipeline or its model's new version often lands first.
 */
export const arrivalGraceMs = 30_000;

/** Causes an object applied with the run removes (the run is woken when it appears). */
const arrivingReasons: ReadonlySet<string> = new Set([
  "PipelineNotFound",
  "ModelNotFound",
  "VersionNotServed",
]);

/**
 * `cause` as the run reports it now: within `arrivalGraceMs` of its creation, a pipeline, model or
 * version not there yet is Reconciling (no Warning Event, Progressing health, not Degraded) until
 * `untilMs`; Stalled as before otherwise. creationTimestamp is the API server's clock: an operator
 * whose clock runs behind it would take the run for younger than it is, so the grace also ends
 * `arrivalGraceMs` after this operator first said the run waits (Reconciling's lastTransitionTime).
 */
export function pendingArrival(
  cause: Kstatus,
  run: BootstrapRun,
  nowMs: number,
): { standing: Kstatus; untilMs?: number } {
  const created = createdMs(run);
  const waiting = findCondition(run.status?.conditions, "Reconciling");
  const waitingSince =
    waiting?.status === "True" && arrivingReasons.has(waiting.reason ?? "")
      ? Date.parse(waiting.lastTransitionTime ?? "")
      : Number.NaN;
  const untilMs = (Number.isNaN(waitingSince) ? created : Math.min(created, waitingSince)) + arrivalGraceMs;
  if (!arrivingReasons.has(cause.reason) || Number.isNaN(created) || nowMs >= untilMs)
    return { standing: cause };
  return {
    standing: {
      state: "Reconciling",
      reason: cause.reason,
      message: `${cause.message}; waiting up to ${arrivalGraceMs / 1000} s from the run's creation for it (one sync or kubectl apply may apply the run first)`,
    },
    untilMs,
  };
}

/** The pipeline a run names, if it exists among `pipelines`. */
export function pipelineOf(
  run: BootstrapRun,
  pipelines: readonly NearlinePipeline[],
): NearlinePipeline | undefined {
  return pipelines.find((pipeline) => pipeline.metadata.name === run.spec.pipelineRef.name);
}
