// The promotion state machine (DESIGN.md section 4) as one pure function of what the reconciler
// observed: the spec, the version records, the store pointer and registry, each version's serving
// state, and the candidate's measured gates. It returns everything the reconciler then does — which
// versions to serve and run workers for, whether to flip the pointer, which BootstrapRun to create,
// what to garbage-collect, the records to keep — so an operator restarted at any step computes the
// same next step from the same observations. Retention (bake, retain, collect) is in retention.ts.
import type { EmbeddingModel, VersionPhase } from "../../crds/index.ts";
import { conditionTime, type ConditionInput, type Kstatus } from "../shared/conditions.ts";
import {
  digestUnknown,
  pipelinesGoneGates,
  rollbackGates,
  scratchGates,
  workersWanted,
} from "./candidate-gates.ts";
import {
  gateCondition,
  servingGate,
  type BootstrapObservation,
  type CoverageObservation,
  type Gate,
  type LagObservation,
  type ParityObservation,
} from "./promotion-gates.ts";
import {
  candidatePhase,
  lostByStore,
  promotedCondition,
  promotingVerdict,
  rolledBackCondition,
  storeChangedVerdict,
  storeDataLostVerdict,
  storeRewoundVerdict,
  type StoreRewind,
  unrecordedActiveVerdict,
  approvalPredatesBuildVerdict,
} from "./promotion-verdict.ts";
import { decideRetention } from "./retention.ts";
import { describeRedefinition, vectorSettingsOf } from "../../store/index.ts";
import {
  keptAsWritten,
  sameVectors,
  withoutAttempt,
  type RecordedSpec,
  type VersionRecord,
} from "./version-record.ts";
import type { ServingState } from "./version-status.ts";

/** The promotion policy of the spec. */
export type PromotionPolicy = EmbeddingModel["spec"]["promotion"];

/** The store's pointer and registry; absent for a model no NearlinePipeline names (serving only). */
export interface StoreObservation {
  /** The store's name (the pipelines' spec.sinks.store.name). */
  name: string;
  current: string | null;
  backup: string | null;
  /** Whether the last pointer change was a flip or a rollback. */
  kind?: "flip" | "rollback" | undefined;
  flippedAtMs: number | null;
  /** The pointer's epoch (0 without a pointer); unknown in some tests. */
  epoch?: number | undefined;
  /**
   * Registry state per version present in the store: a VersionState, or a state a newer release
   * wrote (store/versions.ts isKnownVersionState), which is never complete here and never collected.
   */
  versions: Readonly<Record<string, string>>;
  /** The model digest (`sha256:<hex>`) each registered version's vectors were made with. */
  digests?: Readonly<Record<string, string>> | undefined;
  /**
   * The prompt template digests per entity (`sha256:<hex>`, store/versions.ts) each registered version's
   * vectors were made with; a version registered by an older writer has none.
   */
  prompts?: Readonly<Record<string, Readonly<Record<string, string>>>> | undefined;
  /**
   * The vector settings by name (store/versions.ts VectorSettings) each registered version's vectors
   * were made with; a version registered only by writers of an older release has none.
   */
  vectorSettings?: Readonly<Record<string, Readonly<Record<string, string | number | boolean>>>> | undefined;
}

/** The candidate's measured gates (the reconciler measures only what the next gate needs). */
export interface CandidateMeasurements {
  bootstrap?: BootstrapObservation | undefined;
  lag?: LagObservation | undefined;
  coverage?: CoverageObservation | undefined;
  parity?: ParityObservation | undefined;
  /**
   * Why a BootstrapRun of the candidate cannot be created yet (a pipeline's Kafka Secret missing: the
   * run is sized from the changelog's partition count, which cannot be read without it).
   */
  runBlocked?: { reason: string; message: string } | undefined;
}

/** Everything the decision reads. */
export interface PromotionInputs {
  specVersion: string;
  spec: RecordedSpec;
  policy: PromotionPolicy;
  store?: StoreObservation | undefined;
  /** status.activeVersion as last written (serving-only models have no pointer to read). */
  statusActive?: string | undefined;
  /** That version's status.versions[].activatedTime as last written. */
  statusActivatedTime?: string | undefined;
  /**
   * status.storeEpoch as last written: the highest pointer epoch the operator wrote or saw, so the
   * highest readers may hold. A store rewound below it (restored from an older snapshot, or its data
   * lost) is switched above it, whatever version its pointer names and whatever the clock says.
   */
  statusStoreEpoch?: number | undefined;
  /** status.approval as last written: the approval seen, and since when (see seenApproval). */
  statusApproval?: SeenApproval | undefined;
  records: readonly VersionRecord[];
  /** Serving state per version whose Deployment exists or is wanted. */
  serving: Readonly<Record<string, ServingState>>;
  candidate: CandidateMeasurements;
  /** Versions whose nearline worker Deployments or operator-created BootstrapRuns still exist. */
  writersPresent: readonly string[];
  now: Date;
  /** Replaces collectionPollMs (--collection-poll-seconds). */
  collectionPollMs?: number | undefined;
}

/** A pointer change to make before anything else in this reconcile. */
export interface PointerSwitch {
  kind: "flip" | "rollback";
  expectedCurrent: string | null;
  target: string;
  /**
   * The least epoch the switch may write (the flip time in ms): set when the pointer is gone although
   * a version was live in the store (it lost its data, or someone deleted it), or when the pointer no
   * longer names the version switched to last (the store was restored from an older snapshot), since
   * readers keep the pointer with the highest epoch they saw and would ignore one counted from 0 again.
   * At least one past status.storeEpoch when the pointer's epoch is below it (a store rewound to any
   * older snapshot, or a switch time behind an earlier one: clocks of two replicas, an NTP step back).
   */
  minEpoch?: number | undefined;
  /**
   * The switch puts back the version the model already had active: the pointer was moved or deleted
   * outside the operator (by hand, or a restore) while the spec stayed. Reported as such, not as a
   * rollback the user asked for.
   */
  restores?: boolean | undefined;
  /**
   * With `restores`: the pointer was not moved by hand but rewound (below status.storeEpoch: restored
   * from an older snapshot, or a replica behind) while the version put back stayed complete in the
   * store. Readers get it back at once; what was written to it since the snapshot is missing.
   * Without: the rewound pointer written again on the version it names (the spec set to it); `lost`
   * is the version readers from before hold the pointer of (status.activeVersion already names the
   * restored one since the reconcile that first saw the rewind).
   */
  rewound?: StoreRewind | undefined;
}

/** What the reconciler does. */
export interface PromotionDecision {
  /** The version the query Service selects after this reconcile. */
  queryVersion: string;
  /** status.activeVersion after this reconcile (undefined before the first version went live). */
  activeVersion: string | undefined;
  switchPointer?: PointerSwitch | undefined;
  /** Versions whose serving objects exist (Deployment, Service, ConfigMap, PDB, HPA). */
  serve: string[];
  /** Versions whose nearline workers run, as recorded in `records`. */
  workers: string[];
  /** Create (or adopt) the BootstrapRuns of this version. */
  bootstrap?: string | undefined;
  /** Store versions to garbage-collect one bounded step each. */
  collect: string[];
  /** The records to apply; records of other versions are deleted. */
  records: VersionRecord[];
  phases: Record<string, VersionPhase>;
  /**
   * Domain conditions to set; types not listed keep their previous value, except the gates of a
   * promotion given up without a cutover (promotion-status.ts drops them).
   */
  conditions: ConditionInput[];
  verdict: Kstatus;
  /** Gates measured this reconcile (metrics). */
  gates: Gate[];
  /** The promotion is Stalled (jude_promotion_stalled). */
  stalled: boolean;
  /**
   * The active version the store lost (pointer, registry entry and vectors gone) while it is rebuilt
   * or a candidate's cutover replaces it: readers have no vectors meanwhile (jude_promotion_store_data_lost).
   */
  storeDataLost?: string | undefined;
  /**
   * status.storeEpoch after this reconcile: the highest of the recorded one, the pointer's, and the
   * epoch this decision's switch writes (the flip script writes max(epoch + 1, minEpoch)).
   */
  storeEpoch?: number | undefined;
  /** status.approval after this reconcile (seenApproval). */
  approval?: SeenApproval | undefined;
  requeueAfterMs?: number | undefined;
}

/**
 * spec.promotion.approvedVersion, when the operator first saw it name that version (RFC 3339), and the
 * build of it the approval was given for (that build's promotionStartTime), once known.
 */
export interface SeenApproval {
  version: string;
  observedTime: string;
  build?: string | undefined;
}

/**
 * The approval as seen before this reconcile decides: kept while approvedVersion names the same
 * version, seen now when it names another or was not seen before, forgotten once removed. A name can
 * be built again (spec.version set back to a version whose record and vectors were collected), so an
 * approval counts for one build only (approvalCounts): the one of that version recorded when it was
 * first seen (a candidate approved as it waits, `kubectl jude approve`), else the first one it counts
 * for after (approvedVersion committed with spec.version, or before it), to which it is then bound
 * (notedApproval); one given for an earlier build does not switch readers to a new one.
 */
export function seenApproval(input: PromotionInputs): SeenApproval | undefined {
  const version = input.policy.approvedVersion;
  if (version === undefined) return undefined;
  if (input.statusApproval?.version === version) return input.statusApproval;
  const build = input.records.find((record) => record.version === version)?.promotionStartTime;
  return { version, observedTime: conditionTime(input.now), ...(build !== undefined ? { build } : {}) };
}

/**
 * Whether the approval counts for `record`'s build of the spec's version (see seenApproval). A rebuild
 * of the build readers were using when the store lost it (lostByStore) restarts the promotion's clock,
 * yet restores what the approval was given for: no person chose it, and no approval is new to it.
 */
function approvalCounts(input: PromotionInputs, record: VersionRecord): boolean {
  const approval = seenApproval(input);
  if (approval?.version !== input.specVersion) return false;
  return lostByStore(record) || approval.build === undefined || approval.build === record.promotionStartTime;
}

/** The approval to note in status after this reconcile: bound to the spec's build once it counts for it. */
function notedApproval(input: PromotionInputs, records: readonly VersionRecord[]): SeenApproval | undefined {
  const approval = seenApproval(input);
  const record = records.find((entry) => entry.version === input.specVersion);
  if (approval === undefined || record === undefined || !approvalCounts(input, record)) return approval;
  return { ...approval, build: record.promotionStartTime };
}

/** Poll interval while a promotion waits on something not watched (store counters, worker lag). */
export const promotionPollMs = 5_000;

/**
 * Whether the decision may ask for a BootstrapRun of the spec's version (its `bootstrap`), told from
 * the inputs without deciding: never for a model without a store (served only, or its pipelines
 * gone), while the spec's version is the one readers use, or for a build of it readers used whose
 * vectors the store keeps (a rollback), nor for a version with no model digest to check its vectors
 * against (ModelDigestUnknown). What a run's creation needs besides (the pipelines' Kafka
 * Secrets, read live) is read only when it may.
 */
export function mayBootstrap(input: PromotionInputs): boolean {
  if (input.store === undefined || digestUnknown(input)) return false;
  const spec = input.specVersion;
  const records = new Map(input.records.map((record) => [record.version, record]));
  if (readersPointer(input, records).current === spec) return false;
  const record = records.get(spec);
  return record === undefined || !retainedBuild(record, input.store.versions[spec]);
}

/**
 * The pointer readers follow (the store's, or the status's active version without a store) and the
 * version the decision takes as theirs: none when the pipelines moved back to a store they wrote to
 * before, whose pointer names a version readers left for one whose vectors are in another store, and
 * nothing updated it since they left. Readers are not sent back to it: the spec's version is built
 * into this store as into any store moved to (StoreChanged), and its flip replaces that pointer.
 */
function readersPointer(input: PromotionInputs, records: ReadonlyMap<string, VersionRecord>) {
  const pointer = input.store !== undefined ? input.store.current : input.statusActive;
  const readersLastOn = lastLiveRecord(records);
  const stalePointer =
    input.store !== undefined &&
    pointer != null &&
    readersLastOn !== undefined &&
    readersLastOn.version !== pointer &&
    storeElsewhere(readersLastOn, input.store) !== undefined;
  return { pointer, stalePointer, current: stalePointer ? null : pointer };
}

/** A build readers used whose vectors the store still keeps complete: it is rolled back to, not rebuilt. */
function retainedBuild(record: VersionRecord, storeState: string | undefined): boolean {
  return record.activatedTime !== undefined && record.collected !== true && storeState === "complete";
}

/** Decides the next step of the model's promotion. Pure. */
export function decidePromotion(input: PromotionInputs): PromotionDecision {
  const steps = decideSteps(input);
  // A version without a record (the one readers use, when this model was deleted and applied again
  // or took another model's store over) has nothing to render it from: listing it would render the
  // spec's model under its name, answering readers from another model's space. Not served instead,
  // and given no phase: status.versions lists what this model serves, keeps or builds, and an entry
  // "Active" with no pods would tell `kubectl describe` it is served (activeVersion and Ready name it).
  // The spec's version keeps its phase (Failed when another build of it has no record).
  const recorded = new Set(steps.records.map((record) => record.version));
  const decision = {
    ...steps,
    serve: steps.serve.filter((version) => recorded.has(version)),
    phases: Object.fromEntries(
      Object.entries(steps.phases).filter(
        ([version]) => recorded.has(version) || version === input.specVersion,
      ),
    ),
  };
  const switched = decision.switchPointer;
  const written =
    switched !== undefined && input.store !== undefined
      ? Math.max((input.store.epoch ?? 0) + 1, switched.minEpoch ?? 0)
      : undefined;
  const epochs = [input.statusStoreEpoch, input.store?.epoch, written].filter(
    (epoch): epoch is number => epoch !== undefined,
  );
  const approval = notedApproval(input, decision.records);
  const seen = approval !== undefined ? { ...decision, approval } : decision;
  return epochs.length > 0 ? { ...seen, storeEpoch: Math.max(...epochs) } : seen;
}

/**
 * The least epoch a switch writes (undefined: the flip script's epoch + 1): above the highest epoch
 * the status recorded when the pointer's is below it, and, for a pointer lost or rewound although a
 * version was live, the switch time in ms (what covers a status without the record: a model applied
 * again, or one from a release before status.storeEpoch).
 */
function leastEpoch(input: PromotionInputs, lostPointer: boolean): number | undefined {
  const recorded = input.statusStoreEpoch;
  const above = recorded !== undefined && recorded > (input.store?.epoch ?? 0) ? recorded + 1 : 0;
  const least = Math.max(above, lostPointer ? input.now.getTime() : 0);
  return least > 0 ? least : undefined;
}

function decideSteps(input: PromotionInputs): PromotionDecision {
  const nowText = conditionTime(input.now);
  const spec = input.specVersion;
  const records = new Map(input.records.map((record) => [record.version, { ...record }]));
  const { pointer, stalePointer, current } = readersPointer(input, records);
  // The status says the spec's version is active and its record says readers use it, yet the pointer
  // names another version readers had left (or none): it was changed outside the operator. (A pointer
  // on a version that never went live is an operator stopped between its flip and its records.)
  const pointerRecord = current ? records.get(current) : undefined;
  const specRecord = records.get(spec);
  const pointerMovedAway =
    input.store !== undefined &&
    current !== spec &&
    input.statusActive === spec &&
    specRecord !== undefined &&
    wasLive(specRecord) &&
    // Deleted: only in the store the version was recorded in (a model moved to another store finds
    // no pointer there, and rebuilds; see StoreChanged).
    (current == null
      ? specRecord.store === input.store.name
      : pointerRecord?.activatedTime !== undefined && !wasLive(pointerRecord));
  const specLeftBefore = specRecord?.deactivatedTime;
  if (!stalePointer) followPointer(input.store, records, input.now);
  // The version readers are put back on keeps its record as it was (a restore is no rollback: its
  // RolledBack condition stays); the other one was live meanwhile and leaves again at the switch.
  if (pointerMovedAway) {
    if (specLeftBefore === undefined) delete specRecord.deactivatedTime;
    else specRecord.deactivatedTime = specLeftBefore;
  }
  const previous = records.get(spec);
  const storeState = input.store?.versions[spec];

  // A version name already built with other weights or prompts cannot be reused: its vectors would lie.
  if (previous !== undefined && !sameVectors(previous.spec, input.spec)) {
    const built = storeState !== undefined || previous.activatedTime !== undefined || spec === current;
    if (built) return redefined(input, current, records);
  }
  // The pointer names the spec's version (current or backup), built by a model this one has no
  // record of (deleted and applied again with its records gone, or another model's store taken
  // over) with another model file: serving it as that version would pair one model's query vectors
  // with another's data, and a build over it would keep the other model's vectors.
  const foreign = previous === undefined ? foreignBuild(input, spec, current) : undefined;
  if (foreign !== undefined) return refusedForeignBuild(input, current, records, foreign);
  const record: VersionRecord = retargeted(previous, input, nowText);
  records.set(spec, record);
  // The version the store's pointer names is in that store (settle notes a version it switches to).
  const active = current ? records.get(current) : undefined;
  if (input.store !== undefined && active !== undefined) active.store = input.store.name;
  // Some version's vectors were in a store (its record notes one, as every version the pointer named
  // does). Otherwise a store without a pointer is a first one, not a loss: a model served without a
  // store (no pipeline named it) whose first pipeline was just applied.
  const hadStore = [...records.values()].some((entry) => entry.store !== undefined);
  // No pointer although a version was live: the store lost it, or the pipelines now name another
  // store (their spec.sinks.store moved) while readers of the old one still use that version there.
  const lastLive = current == null ? lastLiveRecord(records) : undefined;
  const movedFrom = storeElsewhere(lastLive, input.store);

  if (spec === current) {
    // The store was rewound to a pointer on the spec's version while readers used another one (the
    // spec set to the restored pointer's version): readers from before hold that one's pointer at a
    // higher epoch and ignore the restored one, so it is written again above what they hold.
    const rewound = storeRewind(input, current, records);
    const republish: PointerSwitch | undefined =
      rewound !== undefined
        ? {
            kind: "rollback",
            expectedCurrent: current,
            target: spec,
            minEpoch: leastEpoch(input, true) ?? rewound.recorded + 1,
            rewound,
          }
        : undefined;
    return settle(input, records, spec, republish, []);
  }

  // A rollback to a version beyond retention while its vectors are being collected, or after the
  // last step removed them but before the next reconcile marked its record: it is rebuilt, and its
  // record says why (retention marks only versions that are not the spec's).
  const vectorsGone = storeState === "deleting" || storeState === undefined;
  // A version whose vectors are in another store (the pipelines moved) was not collected: they are
  // still there, and it is built anew in this one all the same (its storeState here is absent).
  if (
    input.store !== undefined &&
    hadStore &&
    record.activatedTime !== undefined &&
    vectorsGone &&
    storeElsewhere(record, input.store) === undefined
  )
    record.collected = true;
  const serving = input.serving[spec] ?? creating;
  // A build started in the store its pipelines name still needs that store when they go (deleted to
  // be applied again, pruned by Argo CD), and so does any version of a model whose readers use the
  // active version's vectors there: promoting it like a serving-only model would move the query
  // Service to its encoder while the pointer keeps readers on the active version's vectors.
  const pipelinesGone =
    input.store === undefined &&
    (previous?.fromBootstrap === true || previous?.store !== undefined || active?.store !== undefined);
  const retained = !pipelinesGone && (input.store === undefined || retainedBuild(record, storeState));
  // The store holds a build of this version no record knows of: one superseded before it went live
  // whose collection had not started yet (its writers were still stopping), e.g. v1 -> v2 -> v3 -> v2.
  // It may have other prompts or weights than this spec, and a new build over it would keep its
  // vectors (same source positions: "newer wins" refuses the rewrite), so it is collected first.
  if (previous === undefined && storeState !== undefined && spec !== input.store?.backup)
    record.earlierBuildInStore = true;
  if (storeState === undefined) delete record.earlierBuildInStore;
  // An earlier build is still being garbage-collected (a revert and a return, or a rollback beyond
  // retention): finish that first. Only this decision collects it, since the spec's version is never
  // collected otherwise; a run or workers meanwhile would write into keys being removed.
  const awaitingCollection = !retained && (storeState === "deleting" || record.earlierBuildInStore === true);
  const draining = input.store !== undefined && retained && isDraining(record, input);
  const gates = retained
    ? rollbackGates(input, serving, draining)
    : pipelinesGone
      ? pipelinesGoneGates(input, serving, current ?? undefined, active?.store ?? previous?.store)
      : scratchGates(
          input,
          serving,
          storeState,
          awaitingCollection,
          buildMovedFrom(record, input, movedFrom),
        );
  // The store lost the build the candidate's run made (bootstrapGate's StoreLostBuild): a new build,
  // as for a lost active version. The run's snapshot now predates the build's start, so it is an
  // earlier build's (deleted with its checkpoints, which would let a run of its name skip the work)
  // and a new run fills the version again. The rebuild alone does not restart the deadline (below): a
  // store that keeps losing its data would otherwise keep the promotion Reconciling for ever.
  if (
    gates.some((gate) => gate.type === "BootstrapComplete" && gate.reason === "StoreLostBuild") &&
    input.candidate.bootstrap?.snapshotTimed !== false
  )
    record.buildStartTime = nowText;
  const failed = gates.find((gate) => gate.state === "Failed");
  const shut = gates.find((gate) => gate.state !== "Open");
  const gateConditions = gates.map(gateCondition);

  if (shut === undefined) {
    // Approval guards new data reaching readers; a rollback to retained vectors readers already used
    // (or, for a model without data, to an encoder they used) is the escape hatch and goes at once,
    // whatever approvedVersion still names (a Git revert of spec.version alone leaves it on the
    // version being rolled back from).
    const rollsBack = retained && record.activatedTime !== undefined;
    const approved = rollsBack || input.policy.cutover === "Automatic" || approvalCounts(input, record);
    if (approved) {
      const kind =
        input.store !== undefined && hadStore && record.activatedTime !== undefined ? "rollback" : "flip";
      // Or the store came back from an older snapshot (a Redis with RDB persistence only restarted):
      // its pointer names an older version at an older epoch, below what readers hold.
      // Either way the pointer no longer names the version the operator switched to last.
      const lostPointer =
        hadStore &&
        (current == null || lostByStore(record) || (lastLiveRecord(records)?.version ?? current) !== current);
      const minEpoch = leastEpoch(input, lostPointer);
      const rewound = storeRewind(input, current, records);
      const switchPointer: PointerSwitch | undefined =
        input.store !== undefined
          ? {
              kind,
              expectedCurrent: pointer ?? null,
              target: spec,
              ...(minEpoch !== undefined ? { minEpoch } : {}),
              ...(pointerMovedAway && retained ? { restores: true } : {}),
              ...(pointerMovedAway && retained && rewound !== undefined ? { rewound } : {}),
            }
          : undefined;
      return settle(input, records, spec, switchPointer, gateConditions);
    }
  }
  // Still promoting: the active version keeps serving and readers untouched. The deadline measures the
  // time to reach the approval wait; a gate that shuts after it (the store lost the build, a pod
  // failed while the approval took a day) starts a new window, which only reaching the wait again
  // can restart: a store that keeps losing each build before its gates pass still stalls.
  const awaiting = shut === undefined;
  if (awaiting) record.awaitingApprovalTime ??= nowText;
  else if (record.awaitingApprovalTime !== undefined) {
    delete record.awaitingApprovalTime;
    record.deadlineStartTime = nowText;
  }
  const startedMs = Date.parse(record.deadlineStartTime ?? record.promotionStartTime);
  const overdue = input.now.getTime() - startedMs > input.policy.progressDeadlineSeconds * 1000;
  const phase: VersionPhase =
    failed !== undefined || (overdue && !awaiting) ? "Failed" : candidatePhase(shut);
  record.workers = !awaitingCollection && workersWanted(input, retained, gates);
  record.fromBootstrap = !retained;
  const bootstrap =
    !retained && !pipelinesGone && !awaitingCollection && !digestUnknown(input) && gates[0]?.state === "Open"
      ? spec
      : undefined;
  if (bootstrap !== undefined && input.store !== undefined) record.buildStore = input.store.name;
  // The version readers use, when this model has no record of it: nothing serves it (see below).
  const unrecordedActive = current != null && !records.has(current) ? current : undefined;
  const keepsServing = unrecordedActive === undefined ? current : undefined;
  const waiting = promotingVerdict(
    spec,
    keepsServing,
    shut,
    failed,
    overdue,
    input.policy.progressDeadlineSeconds,
    record.deadlineStartTime !== undefined,
  );
  // approvedVersion names the spec's version, but was given for an earlier build of that name.
  const progress =
    waiting.reason === "AwaitingApproval" && input.policy.approvedVersion === spec
      ? approvalPredatesBuildVerdict(spec, keepsServing, seenApproval(input)!, record.promotionStartTime)
      : waiting;
  // The store lost its pointer while another version was live (data loss mid-promotion): readers
  // running since before keep that version's pointer, and get what its workers write after the loss.
  const lostLive =
    hadStore && lastLive !== undefined && lastLive.version !== spec ? lastLive.version : undefined;
  const rewind = storeRewind(input, current, records);
  const verdict =
    movedFrom !== undefined && lastLive !== undefined && input.store !== undefined
      ? storeChangedVerdict(
          spec,
          {
            version: lastLive.version,
            from: movedFrom,
            to: input.store.name,
            stalePointer: stalePointer ? (pointer ?? undefined) : undefined,
          },
          progress,
        )
      : rewind !== undefined
        ? storeRewoundVerdict(rewind, spec, progress)
        : lostByStore(record) || lostLive !== undefined
          ? storeDataLostVerdict(lostLive ?? spec, spec, progress)
          : unrecordedActive !== undefined
            ? unrecordedActiveVerdict(unrecordedActive, spec, progress, input.store !== undefined)
            : progress;
  // Said by the metric even when the promotion is Stalled meanwhile (its verdict then says why).
  const storeDataLost =
    movedFrom !== undefined
      ? undefined
      : (rewind?.lost ?? (lostByStore(record) || lostLive !== undefined ? (lostLive ?? spec) : undefined));
  // Readers of the old store still use the version they used there (the query Service stays on it):
  // it is still the active version, not one draining, until the new store has a current version.
  const readersOn = current ?? (movedFrom !== undefined ? lastLive?.version : undefined);
  // Without a record of it, that version is not served (decidePromotion leaves it out).
  const base = decideRetention(input, records, { spec, active: readersOn, keepServing: [spec] });
  const collectSpec = awaitingCollection && !input.writersPresent.includes(spec);
  return {
    ...base,
    collect: collectSpec ? [spec, ...base.collect] : base.collect,
    // Until a version is current in the store, the query Service stays on the one readers last used:
    // moving it to the candidate's encoder would mix model spaces for readers still on its vectors.
    queryVersion: current ?? lastLive?.version ?? spec,
    activeVersion: readersOn ?? undefined,
    bootstrap,
    phases: { ...base.phases, [spec]: phase },
    conditions: [
      ...gateConditions,
      rolledBackCondition(
        record,
        spec,
        false,
        retained && record.activatedTime !== undefined ? "rollback" : "build",
      ),
      promotedCondition(false, spec, phase, verdict.message),
    ],
    verdict,
    gates,
    stalled: verdict.state === "Stalled",
    storeDataLost,
    requeueAfterMs: minDefined(base.requeueAfterMs, promotionPollMs),
  };
}

const creating: ServingState = {
  state: "Reconciling",
  reason: "Creating",
  message: "the serving Deployment is being created",
  readyReplicas: 0,
};

/** The spec version's record with the spec's current settings; a new attempt restarts its clock. */
function retargeted(previous: VersionRecord | undefined, input: PromotionInputs, now: string): VersionRecord {
  if (previous === undefined)
    return { version: input.specVersion, spec: input.spec, promotionStartTime: now };
  // Activated after its promotion started: it was live and left, so coming back is a new attempt.
  const restart =
    previous.activatedTime !== undefined &&
    Date.parse(previous.activatedTime) >= Date.parse(previous.promotionStartTime) &&
    input.specVersion !== currentOf(input);
  if (!restart) return { ...previous, spec: keptAsWritten(previous.spec, input.spec) };
  return {
    ...withoutAttempt(previous),
    spec: keptAsWritten(previous.spec, input.spec),
    promotionStartTime: now,
  };
}

/**
 * The store the pipelines left that the candidate's build filled: the one its record notes when the
 * pipelines name another now; for a record of an older operator (none noted), the store readers last
 * used when the pipelines moved since (`movedFrom`).
 */
function buildMovedFrom(
  record: VersionRecord,
  input: PromotionInputs,
  movedFrom: string | undefined,
): string | undefined {
  if (record.buildStore === undefined) return movedFrom;
  return input.store !== undefined && record.buildStore !== input.store.name ? record.buildStore : undefined;
}

function currentOf(input: PromotionInputs): string | null | undefined {
  return input.store !== undefined ? input.store.current : input.statusActive;
}

function isDraining(record: VersionRecord, input: PromotionInputs): boolean {
  if (record.deactivatedTime === undefined) return true;
  return input.now.getTime() < Date.parse(record.deactivatedTime) + input.policy.bakeSeconds * 1000;
}

/** The decision once `active` is (or becomes, by `switchPointer`) the spec's version. */
function settle(
  input: PromotionInputs,
  records: Map<string, VersionRecord>,
  active: string,
  switchPointer: PointerSwitch | undefined,
  gateConditions: ConditionInput[],
): PromotionDecision {
  const nowText = conditionTime(input.now);
  const record = records.get(active)!;
  if (switchPointer !== undefined || (input.store === undefined && input.statusActive !== active)) {
    activate(record, nowText);
    delete record.collected;
  } else if (record.activatedTime === undefined) {
    // Readers already use it, but its record lost the time (its ConfigMap deleted and written again):
    // the status still has it; else the time is recorded now, once, not "since now" at every reconcile.
    const restored = input.statusActive === active ? input.statusActivatedTime : undefined;
    record.activatedTime = restored ?? nowText;
    // The record written again started its promotion now, after that time: a promotion starts before
    // its activation, or a return to the version later is not told a new attempt (retargeted) and its
    // deadline runs from the record's rewrite.
    if (restored !== undefined && Date.parse(restored) < Date.parse(record.promotionStartTime))
      record.promotionStartTime = restored;
  }
  if (input.store !== undefined) record.store = input.store.name;
  // Its promotion is over: a wait for approval and a deadline window belong to a promotion, and a
  // record of readers' version keeping them would say it still waits.
  delete record.awaitingApprovalTime;
  delete record.deadlineStartTime;
  // Every other version that was live until now leaves at this switch (a pointer switched before
  // this reconcile was already followed by followPointer).
  for (const other of records.values())
    if (other.version !== active && wasLive(other)) deactivate(other, nowText);
  record.workers = input.store !== undefined;
  record.fromBootstrap = false;
  const serving = input.serving[active] ?? creating;
  const base = decideRetention(input, records, { spec: active, active, keepServing: [active] });
  const ready = serving.state === "Ready" || switchPointer !== undefined;
  // Readers use it (the store's pointer, or the status, names it): while some of its pods still serve
  // them, a pod stuck past the progress deadline leaves it Active, the Ready condition Stalled naming
  // the pod; Failed only when none serves, or before it ever served. A rollout of its pods (`kubectl
  // rollout restart`, a serving setting edited) leaves it Active too, Reconciling meanwhile: Deploying
  // is a version whose serving starts before readers use it, and saying it would announce a phase
  // change (Active -> Deploying -> Active) of a version readers never left.
  const servesReaders = input.store !== undefined || input.statusActive === active;
  // A Secret or claim of the live version gone (a candidate waits for one until its deadline): nothing
  // times this out, and its pods that stop cannot start again, so it is Stalled at once.
  const stalled = serving.state === "Stalled" || serving.blocked === true;
  const verdict: Kstatus = stalled
    ? { state: "Stalled", reason: serving.reason, message: `version ${active}: ${serving.message}` }
    : ready
      ? { state: "Ready", reason: "Promoted", message: `version ${active} is active: ${serving.message}` }
      : { state: "Reconciling", reason: serving.reason, message: `version ${active}: ${serving.message}` };
  const activatedTime = record.activatedTime ?? nowText;
  return {
    ...base,
    queryVersion: active,
    activeVersion:
      input.store !== undefined || serving.state === "Ready" || input.statusActive === active
        ? active
        : input.statusActive,
    switchPointer,
    phases: {
      ...base.phases,
      [active]: stalled
        ? serving.readyReplicas > 0 && servesReaders
          ? "Active"
          : "Failed"
        : ready || servesReaders
          ? "Active"
          : "Deploying",
    },
    conditions: [
      ...gateConditions,
      gateCondition(servingGate(active, serving)),
      promotedCondition(true, active, "Active", `version ${active} active since ${activatedTime}`),
      rolledBackCondition(record, active, record.deactivatedTime !== undefined),
    ],
    verdict,
    gates: [],
    stalled: false,
  };
}

/**
 * Brings the records in line with the store's pointer before anything is decided. The records are
 * written after the pointer switch, so an operator stopped in between finds the pointer on a version
 * whose record does not say it went live; the spec may have moved on meanwhile (to a new version, or
 * back). The pointer is the witness: its version became active at the flip's time and every other
 * version readers used left then. Without this, a version readers used would be dropped as a build
 * that never went live (not drained, not retained, a rollback to it rebuilt from scratch).
 */
function followPointer(
  store: StoreObservation | undefined,
  records: Map<string, VersionRecord>,
  now: Date,
): void {
  const current = store?.current;
  const record = current ? records.get(current) : undefined;
  if (store === undefined || record === undefined || wasLive(record)) return;
  const flippedAt = conditionTime(store.flippedAtMs ? new Date(store.flippedAtMs) : now);
  for (const other of records.values())
    if (other.version !== record.version && wasLive(other)) other.deactivatedTime = flippedAt;
  activate(record, flippedAt);
  delete record.collected;
}

/**
 * What the store's registry records of the spec's version that the spec differs in (the model file,
 * a vector setting, an entity's prompt template; in words), when the pointer names it, as the version readers use or as
 * its backup (neither is ever collected, so a build over it would keep its vectors: "newer wins").
 * Only what the registry records is compared: an entry an older writer registered has no templates.
 */
function foreignBuild(input: PromotionInputs, spec: string, current: string | null | undefined) {
  if (spec !== current && spec !== input.store?.backup) return undefined;
  const modelDigest = input.store?.digests?.[spec];
  if (modelDigest === undefined) return undefined;
  const sha256 = input.spec.model.sha256;
  return describeRedefinition(
    {
      modelDigest,
      prompts: input.store?.prompts?.[spec],
      vectorSettings: input.store?.vectorSettings?.[spec],
    },
    {
      modelDigest: sha256 === undefined ? undefined : `sha256:${sha256}`,
      prompts: input.spec.prompts,
      vectorSettings: vectorSettingsOf(input.spec.model),
    },
    "this spec's ",
  );
}

/**
 * The decision when the spec names a version of the store that another model file, vector settings or
 * prompt template built, and no record of this model says it built it: nothing is served or switched
 * as that version (no pods with the spec's model answering as it), nothing of the store is collected or written, the
 * version readers use keeps serving when this model has it, and the verdict says what to do.
 */
function refusedForeignBuild(
  input: PromotionInputs,
  current: string | null | undefined,
  records: Map<string, VersionRecord>,
  differs: string,
): PromotionDecision {
  const spec = input.specVersion;
  const role = spec === current ? "current" : "the backup";
  const message = `version ${spec}, ${role} in store ${input.store?.name ?? ""}, was built with ${differs}; give this spec a new version name (or delete the EmbeddingModel and apply it again with the model file, settings and prompts that built it)`;
  const verdict: Kstatus = { state: "Stalled", reason: "VersionRedefined", message };
  const active = current != null && current !== spec && records.has(current) ? current : undefined;
  const base = decideRetention(input, records, { spec, active, keepServing: [] });
  return {
    ...base,
    collect: [],
    // Without a version of its own readers use, its query Service selects pods of the spec's
    // version, which it does not serve: no answers rather than answers from another model's space.
    queryVersion: active ?? spec,
    activeVersion: active,
    phases: { ...base.phases, [spec]: "Failed" },
    conditions: [promotedCondition(false, spec, "Failed", message)],
    verdict,
    gates: [],
    stalled: true,
  };
}

/** The decision when the spec reuses a version name for different vectors. */
function redefined(
  input: PromotionInputs,
  current: string | null | undefined,
  records: Map<string, VersionRecord>,
): PromotionDecision {
  const spec = input.specVersion;
  // The version readers use, under another model: most likely spec.version alone set back (a revert of
  // one line after a failed promotion). The CRD refuses the model or prompts changing without the
  // version, so the plain way back (the rest of the spec set back too) is refused: say the one that works.
  const message =
    current === spec
      ? `version ${spec}, the active one, was built with another model or prompts than the spec names (spec.version set back without spec.model and spec.prompts?); ` +
        `the API server refuses a model or prompts change without a version change, so to return to ${spec} as it was built, set spec.version to the new model's version name again, ` +
        `then \`kubectl jude rollback\` with this EmbeddingModel's name abandons that promotion, setting spec.version, spec.model and spec.prompts back to ${spec}'s record together (version ${spec} keeps serving)`
      : `version ${spec} was already built with another model or prompts; give the new model a new version name${current && records.has(current) ? ` (version ${current} keeps serving)` : ""}`;
  const verdict: Kstatus = { state: "Stalled", reason: "VersionRedefined", message };
  // Nothing of the version changes: it keeps serving, running workers and its phase as its record
  // says (its objects are rendered from the record). A version readers used goes on through bake and
  // retention like any other (a rollback to it stays one flip); a build in flight waits as it is.
  const live = records.get(spec)?.activatedTime !== undefined;
  const base = live
    ? decideRetention(input, records, { spec: current ?? spec, active: current, keepServing: [] })
    : decideRetention(input, records, { spec, active: current, keepServing: [spec] });
  const phase = base.phases[spec] ?? "Failed";
  // Promoted says the version as it is (Active and serving readers when it is the one they use, not
  // Failed): what is not promoted is the spec's model or prompts under its name.
  const promoted: ConditionInput =
    current === spec && phase === "Active"
      ? {
          type: "Promoted",
          status: "False",
          reason: "VersionRedefined",
          message: `version ${spec} is Active and serving as built (with its recorded model and prompts); the model or prompts the spec names are not promoted: ${message}`,
        }
      : { ...promotedCondition(false, spec, phase, message), reason: "VersionRedefined" };
  return {
    ...base,
    queryVersion: current ?? spec,
    activeVersion: current ?? undefined,
    phases: { ...base.phases, [spec]: phase },
    conditions: [promoted],
    verdict,
    gates: [],
    stalled: true,
  };
}

/**
 * Records `record` as activated at `time`. Times are whole seconds (as conditions'): a version that
 * readers left in that same second (a rollback within the second of the flip it reverts) is recorded
 * as having left a second earlier, or equal times would read as "deactivated since" (wasLive), and
 * the next switch away from it would skip its bake (its workloads removed as readers leave it).
 */
function activate(record: VersionRecord, time: string): void {
  const activatedMs = Date.parse(time);
  if (record.deactivatedTime !== undefined && Date.parse(record.deactivatedTime) >= activatedMs)
    record.deactivatedTime = conditionTime(new Date(activatedMs - 1000));
  record.activatedTime = time;
}

/**
 * Records `record` as deactivated at `time` (the operator's clock, at a switch it makes), or at its
 * activation when `time` is before it (another clock wrote that: a replica before a failover, or the
 * store's flip time that followPointer took): a deactivation before the activation reads as "live"
 * (wasLive), and the next switch would drain it anew for bakeSeconds, however long ago readers left.
 * followPointer keeps the pointer's time as it is: a rewound store's old flip time leaving the version
 * readers used after it live is how storeRewind finds the version lost.
 */
function deactivate(record: VersionRecord, time: string): void {
  const activated = record.activatedTime;
  record.deactivatedTime =
    activated !== undefined && Date.parse(activated) > Date.parse(time) ? activated : time;
}

/** Readers used it until now: activated and not deactivated since. */
function wasLive(record: VersionRecord): boolean {
  if (record.activatedTime === undefined) return false;
  return (
    record.deactivatedTime === undefined ||
    Date.parse(record.deactivatedTime) < Date.parse(record.activatedTime)
  );
}

/**
 * The store came back rewound (promotion-verdict.ts StoreRewind): its pointer's epoch is below the
 * highest the operator wrote or saw (status.storeEpoch) and names another version than the one readers
 * used last. Only lost data lowers the epoch: every switch, the operator's or one by hand (the store's
 * flip and rollback scripts), writes above the epoch it finds, and the status records what it sees.
 * A rewound pointer on the very version readers use is no loss of theirs (its next switch still goes
 * above their epoch: leastEpoch).
 */
function storeRewind(
  input: PromotionInputs,
  current: string | null | undefined,
  records: ReadonlyMap<string, VersionRecord>,
): StoreRewind | undefined {
  const epoch = input.store?.epoch;
  const recorded = input.statusStoreEpoch;
  if (current == null || epoch === undefined || recorded === undefined || epoch >= recorded) return undefined;
  // followPointer dates the pointer's version back to the restored flip time, which leaves the
  // version readers used after it live in the records.
  const lost = lastLiveRecord(records)?.version;
  return lost !== undefined && lost !== current ? { lost, current, epoch, recorded } : undefined;
}

/** The record of the version live last (activated and not deactivated since), if any. */
function lastLiveRecord(records: ReadonlyMap<string, VersionRecord>): VersionRecord | undefined {
  return [...records.values()]
    .filter(wasLive)
    .sort((a, b) => Date.parse(b.activatedTime!) - Date.parse(a.activatedTime!))[0];
}

/** The store `record`'s vectors are noted in, when it is not `store` (the one the pipelines name now). */
function storeElsewhere(
  record: VersionRecord | undefined,
  store: StoreObservation | undefined,
): string | undefined {
  const noted = record?.store;
  return store !== undefined && noted !== undefined && noted !== "" && noted !== store.name
    ? noted
    : undefined;
}

function minDefined(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}
