// The gate lists of a candidate version, pure: a version built from scratch passes every gate in
// order (each measured only once the previous one is open); a rollback to a retained version needs
// only serving and, when its workers had stopped, catching up (its vectors passed the rest before).
import {
  bootstrapGate,
  caughtUpGate,
  coverageGate,
  parityGate,
  servingGate,
  waivedGate,
  type Gate,
} from "./promotion-gates.ts";
import type { PromotionInputs } from "./promotion.ts";
import type { ServingState } from "./version-status.ts";

/** Gates of a rollback to a retained version: serving, and catching up unless it never stopped. */
export function rollbackGates(input: PromotionInputs, serving: ServingState, draining: boolean): Gate[] {
  const spec = input.specVersion;
  const kept = `version ${spec}'s vectors are retained`;
  const noData = input.store === undefined;
  const waive = (type: Gate["type"], message: string) =>
    waivedGate(
      type,
      noData ? "NoPipelines" : "Retained",
      noData ? "no NearlinePipeline names this model" : message,
    );
  return [
    servingGate(spec, serving),
    waive("BootstrapComplete", kept),
    draining || noData
      ? waive("CaughtUp", `version ${spec}'s workers ran through the bake period`)
      : caughtUpGate(spec, input.candidate.lag ?? { pipelines: 1, reporting: 0 }, input.policy.maxLagSeconds),
    waive("CoverageMet", kept),
    waive("ParityPassed", `${kept}; parity passed when it was promoted`),
  ];
}

/**
 * Whether the spec's version has data to build but no model digest: nearline workers and bootstrap
 * shards check every vector's digest against spec.model.sha256, and the operator does not hash model
 * files, so none of them can ever run for it (live-versions.ts stalls its pipelines the same way).
 */
export function digestUnknown(input: PromotionInputs): boolean {
  return input.store !== undefined && input.spec.model.sha256 === undefined;
}

/**
 * Gates of a version built from scratch, each measured only once the previous one is open. `movedFrom`:
 * the store the candidate's build filled, when the pipelines now name another one (StoreChanged).
 */
export function scratchGates(
  input: PromotionInputs,
  serving: ServingState,
  storeState: string | undefined,
  awaitingCollection: boolean,
  movedFrom?: string,
): Gate[] {
  const spec = input.specVersion;
  const measured = input.candidate;
  const gates: Gate[] = [servingGate(spec, serving)];
  const unmeasured = (type: Gate["type"], after: string): Gate => ({
    type,
    state: "Shut",
    reason: "Waiting",
    message: `waiting for ${after}`,
  });
  if (digestUnknown(input))
    gates.push({
      type: "BootstrapComplete",
      state: "Failed",
      reason: "ModelDigestUnknown",
      message: `version ${spec} sets no spec.model.sha256: its nearline workers and bootstrap shards check every vector's model digest against it, and the operator does not hash model files, so none of them can run; set it together with a new spec.version`,
    });
  else if (awaitingCollection)
    gates.push({
      type: "BootstrapComplete",
      state: "Shut",
      reason: "WaitingForCollection",
      message:
        storeState === "deleting"
          ? `the store is still deleting an earlier build of ${spec}; the bootstrap starts once it is gone`
          : `the store still holds an earlier build of ${spec}; it is deleted once its writers have stopped, then the bootstrap starts`,
    });
  else if (gates[0]!.state !== "Open") gates.push(unmeasured("BootstrapComplete", "ServingReady"));
  else {
    const move =
      movedFrom !== undefined && input.store ? { from: movedFrom, to: input.store.name } : undefined;
    gates.push(bootstrapGate(spec, measured.bootstrap, storeState, measured.runBlocked, move));
  }
  const open = () => gates.every((gate) => gate.state === "Open");
  // The candidate's workers run from the bootstrap's start: a pipeline that cannot run them says so
  // now, not once the bootstrap is done.
  const stalled = measured.lag?.stalled ?? [];
  const caughtUpWaiting = unmeasured("CaughtUp", "BootstrapComplete");
  gates.push(
    open()
      ? caughtUpGate(spec, measured.lag ?? { pipelines: 1, reporting: 0 }, input.policy.maxLagSeconds)
      : stalled.length === 0
        ? caughtUpWaiting
        : { ...caughtUpWaiting, message: `${caughtUpWaiting.message}; meanwhile ${stalled.join("; ")}` },
  );
  gates.push(
    open()
      ? coverageGate(spec, measured.coverage, input.policy.minCoverage)
      : unmeasured("CoverageMet", "CaughtUp"),
  );
  gates.push(open() ? parityGate(spec, measured.parity) : unmeasured("ParityPassed", "CoverageMet"));
  return gates;
}

/**
 * Gates of a version whose build started in the store the model's pipelines name, or of any version of
 * a model whose active version's vectors are in that store, now that no pipeline names the model: shut
 * until one does (the build then starts, or goes on where it was). `storeName` is the records' note of
 * the store ("" or undefined: not known).
 */
export function pipelinesGoneGates(
  input: PromotionInputs,
  serving: ServingState,
  active: string | undefined,
  storeName: string | undefined,
): Gate[] {
  const spec = input.specVersion;
  const named = storeName ? `store "${storeName}"` : undefined;
  const where =
    active === undefined
      ? `version ${spec} is built in ${named ?? "the store its NearlinePipelines write to"}`
      : `readers use version ${active}'s vectors in ${named ?? "the store its NearlinePipelines write to"}`;
  const todo = `apply a NearlinePipeline of this model writing to ${named ?? "that store"} again${active === undefined ? "" : `, or set spec.version back to ${active}`}`;
  const waiting = (type: Gate["type"], after: string): Gate => ({
    type,
    state: "Shut",
    reason: "Waiting",
    message: `waiting for ${after}`,
  });
  return [
    servingGate(spec, serving),
    {
      type: "BootstrapComplete",
      state: "Shut",
      reason: "NoPipelines",
      message: `${where}, and no NearlinePipeline names this model now; version ${spec} waits for one: ${todo}`,
    },
    waiting("CaughtUp", "BootstrapComplete"),
    waiting("CoverageMet", "CaughtUp"),
    waiting("ParityPassed", "CoverageMet"),
  ];
}

/**
 * Workers run once the bootstrap was requested (each pipeline waits for its run's offsets), and keep
 * running while the build's runs exist, as the runs do: serving that stops being Ready for a while (a
 * rollout after an operator upgrade or a serving edit, a lost node) must not delete the candidate's
 * worker Deployments, which would stop every worker at once and start them all again afterwards.
 */
export function workersWanted(input: PromotionInputs, retained: boolean, gates: readonly Gate[]): boolean {
  if (input.store === undefined || digestUnknown(input)) return false;
  return retained || gates[0]?.state === "Open" || input.candidate.bootstrap !== undefined;
}
