// The gates a candidate version passes before readers switch to it, each a condition carrying its
// measured value: ServingReady, BootstrapComplete, CaughtUp, CoverageMet, ParityPassed. Pure: the
// reconciler measures (Deployment, BootstrapRun, worker figures, store counters, parity sample) and
// these functions judge, so decision tables test every outcome.
import type { ConditionInput } from "../shared/conditions.ts";
import type { ServingState } from "./version-status.ts";

/** The gate conditions, in the order a promotion passes them. */
export const gateTypes = [
  "ServingReady",
  "BootstrapComplete",
  "CaughtUp",
  "CoverageMet",
  "ParityPassed",
] as const;
export type GateType = (typeof gateTypes)[number];

/** One gate's verdict: open, shut (wait), or failed (only a spec change helps: Stalled at once). */
export interface Gate {
  type: GateType;
  state: "Open" | "Shut" | "Failed";
  reason: string;
  message: string;
  /** The measured value, exported as jude_promotion_gate_value. */
  value?: number;
}

/** What the BootstrapRun of the candidate shows (undefined: none exists yet). */
export interface BootstrapObservation {
  /** The run's name; of several pipelines' runs, every name, or the one that failed. */
  name: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Suspended" | undefined;
  message: string;
  percent?: number;
  /** The run captured its changelog end offsets (the candidate's workers may start). */
  watermarksCaptured: boolean;
  /**
   * Why an unfinished run's shards do not run or keep failing, when it says (its Ready message while
   * the reason is Unschedulable, FailedCreate, PodFailing, ShardsRetried, AnotherRunInFlight or
   * TopicNotFound), so the gate shows it instead of a bare percentage.
   */
  heldBack?: string;
  /**
   * With more than one pipeline: each run's phase and percentage ("jobs-v2-promotion Succeeded,
   * members-v2-promotion Running (46%)"), shown beside `percent`, their mean.
   */
  perRun?: string;
  /**
   * False when a run's snapshot time is not known (a run of files captures no changelog offsets): a
   * new build cannot tell it for an earlier build's (shared/filling-run.ts isEarlierBuild), so it cannot
   * be replaced by one; the user deletes it.
   */
  snapshotTimed?: boolean;
}

/** The candidate's workers, summed over every pipeline of the model. */
export interface LagObservation {
  /** Pipelines of the model, and how many of them report figures for the candidate. */
  pipelines: number;
  reporting: number;
  /** Pipelines that run no workers (spec.workers.replicas 0): the candidate cannot catch up there. */
  withoutWorkers?: string[];
  /**
   * Why pipelines that run workers do not report the candidate's figures, where their status says:
   * "NearlinePipeline p is not Ready (reason): its Ready message" (workers that cannot run or are not
   * ready), or that ready workers' first report is awaited.
   */
  unreported?: string[];
  /**
   * Pipelines Stalled ("NearlinePipeline p is Stalled (reason): message"): said while CaughtUp is not
   * measured yet (the bootstrap runs), since the candidate's workers run, or fail, from its start.
   */
  stalled?: string[];
  /** Records not yet processed, summed over pipelines (undefined: not reported yet). */
  records?: number;
  /** Largest 95th-percentile freshness (event time to vector written) reported, in seconds. */
  freshnessSeconds?: number;
}

/** Counters of the store: live records of the candidate and of the active version. */
export interface CoverageObservation {
  candidateLive: number;
  /** Undefined when there is no active version to compare with (the first version). */
  baseLive?: number;
}

/** The outcome of re-embedding a sample of the candidate's stored vectors. */
export interface ParityObservation {
  sampled: number;
  /** Sampled keys whose vector matched (cosine, norm, dimensions and digest). */
  matched: number;
  minCosine?: number;
  /** Why the first mismatch failed, for the message. */
  firstMismatch?: string;
  /** The measurement itself failed (server or changelog unreachable); measured again later. */
  error?: string;
}

/** The parity threshold: a vector re-embedded through the candidate's server must match this well. */
export const parityMinCosine = 0.999;

/** ServingReady: the candidate's Deployment is rolled out and ready; stuck pods fail the gate. */
export function servingGate(version: string, serving: ServingState): Gate {
  const state = serving.state === "Ready" ? "Open" : serving.state === "Stalled" ? "Failed" : "Shut";
  return {
    type: "ServingReady",
    state,
    reason: serving.reason,
    message: `version ${version}: ${serving.message}`,
    value: serving.readyReplicas,
  };
}

/**
 * The candidate's run succeeded, yet the store's registry has no such version, or has it `building`:
 * the store lost the build after the run (a Redis restarted without persistence or flushed while the
 * candidate waited for its gates or its approval). A run is Succeeded only once its Job completed, and
 * its last shard marks the version complete before it exits (pipelines/bootstrap/shard.ts), so a
 * `building` entry beside it was registered again after the loss: by any writer of the version that
 * started since (a nearline worker restarted or rescheduled, the first workers in a store the
 * pipelines moved to). The run's success no longer says anything about the store, and nothing of that
 * run will mark the version complete again, so the version is built anew (promotion.ts).
 */
export function buildLostByStore(
  run: BootstrapObservation | undefined,
  storeState: string | undefined,
): boolean {
  return run?.phase === "Succeeded" && (storeState === undefined || storeState === "building");
}

/**
 * BootstrapComplete: the run succeeded and the store marks the version complete. `move`: the
 * pipelines now name another store than the one the run filled (StoreChanged), so a succeeded run's
 * build missing from the store is no loss: the run filled the store they named before.
 */
export function bootstrapGate(
  version: string,
  run: BootstrapObservation | undefined,
  storeState: string | undefined,
  runBlocked?: { reason: string; message: string },
  move?: { from: string; to: string },
): Gate {
  const percent = run?.percent;
  const value = percent === undefined ? undefined : percent / 100;
  if (run === undefined && runBlocked !== undefined)
    return {
      type: "BootstrapComplete",
      state: "Shut",
      reason: runBlocked.reason,
      message: `BootstrapRun for version ${version} cannot be created: ${runBlocked.message}`,
    };
  if (run === undefined)
    return {
      type: "BootstrapComplete",
      state: "Shut",
      reason: "Creating",
      message: `BootstrapRun for version ${version} is being created`,
    };
  if (run.phase === "Failed")
    return {
      type: "BootstrapComplete",
      state: "Failed",
      reason: "BootstrapFailed",
      // The run's own message starts "bootstrap failed: " (or "bootstrap failed; progress …" when the
      // failure has no words; run-status.ts): quoted once, not twice, and never as an empty quote.
      message: `BootstrapRun ${run.name} failed: ${run.message.replace(/^bootstrap failed(: |; )?/, "")}`,
    };
  if (run.phase !== "Succeeded")
    return {
      type: "BootstrapComplete",
      state: "Shut",
      reason: run.phase === "Suspended" ? "BootstrapSuspended" : "Bootstrapping",
      message: `${run.perRun === undefined ? `BootstrapRun ${run.name} is ${run.phase ?? "Pending"}${percent === undefined ? "" : ` (${percent}%)`}` : `BootstrapRuns ${run.perRun}${percent === undefined ? "" : `: ${percent}% in all`}`}${run.heldBack === undefined ? "" : `: ${run.heldBack}`}`,
      ...(value === undefined ? {} : { value }),
    };
  if (buildLostByStore(run, storeState))
    return {
      type: "BootstrapComplete",
      state: "Shut",
      reason: "StoreLostBuild",
      message: `BootstrapRun ${run.name} succeeded, but ${lostBuildCause(version, storeState, move)}: ${run.snapshotTimed === false ? `delete the BootstrapRun to bootstrap version ${version} again` : `version ${version} is bootstrapped again by a new BootstrapRun`}`,
    };
  if (storeState !== "complete")
    return {
      type: "BootstrapComplete",
      state: "Shut",
      reason: "VersionNotComplete",
      message: `BootstrapRun ${run.name} succeeded but the store marks ${version} ${storeState ?? "absent"}`,
    };
  return {
    type: "BootstrapComplete",
    state: "Open",
    reason: "BootstrapSucceeded",
    message: `BootstrapRun ${run.name} succeeded`,
    value: 1,
  };
}

/** What became of the build a succeeded run made, told from the store's state and a store move. */
function lostBuildCause(
  version: string,
  storeState: string | undefined,
  move: { from: string; to: string } | undefined,
): string {
  if (move !== undefined) {
    const store = `store ${move.to}, which the pipelines now write to instead of store ${move.from},`;
    return storeState === undefined
      ? `${store} has no build of version ${version}`
      : `${store} has no complete build of version ${version} (its writers there registered it, building)`;
  }
  return storeState === undefined
    ? `the store no longer has version ${version} (it lost its data, or the version was removed from it)`
    : `the store lost its build of version ${version} (it marks it building again: its data was lost and a writer of the version registered it anew)`;
}

/**
 * CaughtUp: every pipeline reports the candidate's workers, and they are within the gate. Lag is
 * observed in records (summed consumer lag) and freshness in seconds; the gate opens when the workers
 * have nothing left to read or their 95th-percentile freshness is within maxLagSeconds.
 */
export function caughtUpGate(version: string, lag: LagObservation, maxLagSeconds: number): Gate {
  // Reporting workers with no freshness figure wrote no vector in the last minute (the p95's window):
  // said so, not "unknown", since lag 0 then opens the gate on its own.
  const freshness =
    lag.freshnessSeconds !== undefined
      ? `${lag.freshnessSeconds.toFixed(1)}s`
      : lag.records === undefined
        ? "unknown"
        : "none: no vector written in the last minute";
  const figures = `lag ${lag.records ?? "unknown"} records, freshness p95 ${freshness} (gate ${maxLagSeconds}s)`;
  const value = lag.records;
  const base = { type: "CaughtUp" as const, ...(value === undefined ? {} : { value }) };
  const idle = lag.withoutWorkers?.length
    ? `; NearlinePipeline ${lag.withoutWorkers.join(", ")} runs no workers (spec.workers.replicas is 0): scale it up to let version ${version} catch up`
    : "";
  if (lag.pipelines === 0)
    return { ...base, state: "Open", reason: "NoPipelines", message: "no NearlinePipeline names this model" };
  const why = lag.unreported?.length ? `; ${lag.unreported.join("; ")}` : "";
  if (lag.reporting < lag.pipelines || lag.records === undefined)
    return {
      ...base,
      state: "Shut",
      reason: "WaitingForWorkers",
      message: `${lag.reporting}/${lag.pipelines} pipelines report version ${version}'s workers; ${figures}${why}${idle}`,
    };
  const fresh = lag.freshnessSeconds !== undefined && lag.freshnessSeconds <= maxLagSeconds;
  if (lag.records === 0 || fresh)
    return { ...base, state: "Open", reason: "CaughtUp", message: `version ${version}: ${figures}` };
  return { ...base, state: "Shut", reason: "CatchingUp", message: `version ${version}: ${figures}${idle}` };
}

/** CoverageMet: the candidate holds at least minCoverage of the active version's live records. */
export function coverageGate(
  version: string,
  coverage: CoverageObservation | undefined,
  minCoverage: number,
): Gate {
  if (coverage === undefined)
    return {
      type: "CoverageMet",
      state: "Shut",
      reason: "Unmeasured",
      message: `coverage of version ${version} not measured yet`,
    };
  const base = coverage.baseLive;
  const ratio = base === undefined || base === 0 ? 1 : coverage.candidateLive / base;
  const figures =
    base === undefined
      ? `${coverage.candidateLive} records; no active version to compare with`
      : `${coverage.candidateLive}/${base} records of the active version = ${ratio.toFixed(4)} (gate ${minCoverage})`;
  return {
    type: "CoverageMet",
    state: ratio >= minCoverage ? "Open" : "Shut",
    reason: ratio >= minCoverage ? "CoverageMet" : "CoverageBelowGate",
    message: `version ${version}: ${figures}`,
    value: ratio,
  };
}

/** ParityPassed: every sampled vector re-embedded through the candidate's server matched. */
export function parityGate(version: string, parity: ParityObservation | undefined): Gate {
  if (parity === undefined)
    return {
      type: "ParityPassed",
      state: "Shut",
      reason: "Unmeasured",
      message: `parity of version ${version} not checked yet`,
    };
  if (parity.error !== undefined)
    return {
      type: "ParityPassed",
      state: "Shut",
      reason: "ParityUnmeasured",
      message: `parity of version ${version} could not be measured: ${parity.error}`,
    };
  const cosine = parity.minCosine === undefined ? "n/a" : parity.minCosine.toFixed(5);
  const figures = `${parity.matched}/${parity.sampled} sampled vectors matched, min cosine ${cosine} (gate ${parityMinCosine})`;
  const value = parity.minCosine;
  const base = { type: "ParityPassed" as const, ...(value === undefined ? {} : { value }) };
  if (parity.sampled === 0)
    return {
      ...base,
      state: "Shut",
      reason: "NothingToSample",
      message: `version ${version} has no vectors with a changelog position to sample yet`,
    };
  if (parity.matched < parity.sampled)
    return {
      ...base,
      state: "Failed",
      reason: "ParityFailed",
      message: `version ${version}: ${figures}; first mismatch: ${parity.firstMismatch ?? "unknown"}`,
    };
  return { ...base, state: "Open", reason: "ParityPassed", message: `version ${version}: ${figures}` };
}

/** A gate as a condition: True when open. */
export function gateCondition(gate: Gate): ConditionInput {
  return {
    type: gate.type,
    status: gate.state === "Open" ? "True" : "False",
    reason: gate.reason,
    message: gate.message,
  };
}

/** A gate that does not apply to this promotion (e.g. a rollback needs no bootstrap), shown as passed. */
export function waivedGate(type: GateType, reason: string, message: string): Gate {
  return { type, state: "Open", reason, message };
}
