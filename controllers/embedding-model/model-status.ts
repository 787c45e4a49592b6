// Decisions for the whole EmbeddingModel: which versions are served and which one the query Service
// selects, its kstatus verdict, and the status object written to /status. Pure. Promotion (issue 17)
// replaces servedVersions() with its state machine; the rest stays.
import type { Condition, EmbeddingModelStatus, ModelVersionStatus } from "../../crds/index.ts";
import { kstatusConditions, setConditions, type Kstatus } from "../shared/conditions.ts";
import type { ServingState } from "./version-status.ts";

/** A reason the spec's version cannot be served until the user acts (missing Secret, bad spec). */
export interface Blocker {
  reason: string;
  message: string;
}

/**
 * The versions to serve and the one the query Service selects. Until the spec's version is ready the
 * previously active one keeps serving and stays active, so changing the version never leaves the
 * query Service without pods; once ready, the spec's version takes over and the old one is removed.
 */
export function servedVersions(
  specVersion: string,
  activeVersion: string | undefined,
  specVersionReady: boolean,
): { serve: string[]; active: string } {
  const active = specVersionReady || activeVersion === undefined ? specVersion : activeVersion;
  return { serve: active === specVersion ? [specVersion] : [active, specVersion], active };
}

/** The kstatus verdict: blockers stall, a stuck rollout stalls, a rollout in progress reconciles. */
export function decideModelKstatus(
  specVersion: string,
  blockers: readonly Blocker[],
  serving: ServingState,
): Kstatus {
  const [blocker] = blockers;
  if (blocker !== undefined)
    return { state: "Stalled", reason: blocker.reason, message: blockers.map((b) => b.message).join("; ") };
  if (serving.state === "Stalled")
    return {
      state: "Stalled",
      reason: serving.reason,
      message: `version ${specVersion}: ${serving.message}`,
    };
  if (serving.state === "Reconciling")
    return {
      state: "Reconciling",
      reason: serving.reason,
      message: `version ${specVersion}: ${serving.message}`,
    };
  return { state: "Ready", reason: "Ready", message: `version ${specVersion} serving: ${serving.message}` };
}

/** What the status of one version is built from. */
export interface VersionReport {
  version: string;
  serving: ServingState;
  endpoint: string;
  modelDigest: string | undefined;
  active: boolean;
}

/** A version's phase: Active when the query Service selects it, Failed when stalled, else Deploying. */
export function versionPhase(report: VersionReport): ModelVersionStatus["phase"] {
  if (report.serving.state === "Stalled") return "Failed";
  if (report.active && report.serving.state === "Ready") return "Active";
  return "Deploying";
}

/** The complete status the controller owns. */
export function modelStatus(input: {
  generation: number;
  previousConditions: readonly Condition[] | undefined;
  verdict: Kstatus;
  versions: readonly VersionReport[];
  activeVersion: string | undefined;
  now: Date;
}): EmbeddingModelStatus {
  const servingReady = input.versions.find((report) => report.active)?.serving.state === "Ready";
  const conditions = setConditions(
    input.previousConditions,
    [
      ...kstatusConditions(input.verdict),
      {
        type: "ServingReady",
        status: servingReady ? "True" : "False",
        reason: servingReady ? "ServingReady" : input.verdict.reason,
        message: servingReady ? `version ${input.activeVersion} is serving` : input.verdict.message,
      },
    ],
    input.generation,
    input.now,
  );
  return {
    observedGeneration: input.generation,
    conditions,
    ...(input.activeVersion === undefined ? {} : { activeVersion: input.activeVersion }),
    versions: input.versions.map((report) => ({
      version: report.version,
      phase: versionPhase(report),
      readyReplicas: report.serving.readyReplicas,
      endpoint: report.endpoint,
      ...(report.modelDigest === undefined ? {} : { modelDigest: report.modelDigest }),
    })),
  };
}
