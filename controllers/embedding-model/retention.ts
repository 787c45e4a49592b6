// What happens to versions readers no longer use: the previous version stays warm (served, workers
// running) for bakeSeconds after readers left it (phase Draining), so a rollback is one pointer flip;
// then its workloads go and its vectors are kept for retainVersions rollbacks (phase Retained); older
// ones are garbage-collected from the store, after which their record says so (a rollback to one
// promotes it from scratch). A version superseded before it went live leaves nothing behind: its
// record is dropped (its objects are then removed) and its partial vectors collected. Pure.
import type { VersionPhase } from "../../crds/index.ts";
import { isKnownVersionState } from "../../store/index.ts";
import type { PromotionInputs } from "./promotion.ts";
import type { VersionRecord } from "./version-record.ts";

/** Records of collected versions kept, newest first, so a rollback to one explains itself. */
export const collectedRecordsKept = 5;

/**
 * Poll interval while store versions wait to be collected: each reconcile removes one bounded step,
 * and what collection waits for (the pipelines' worker Deployments going) does not wake the model.
 */
export const collectionPollMs = 5_000;

/** The part of the decision retention owns. */
export interface RetentionDecision {
  serve: string[];
  workers: string[];
  collect: string[];
  records: VersionRecord[];
  phases: Record<string, VersionPhase>;
  requeueAfterMs?: number | undefined;
}

/**
 * Retention of every version but `focus.spec` and `focus.active` (both kept, served as
 * `focus.keepServing` says). Mutates the records it keeps (workers, collected) and returns them.
 */
export function decideRetention(
  input: PromotionInputs,
  records: ReadonlyMap<string, VersionRecord>,
  focus: { spec: string; active: string | null | undefined; keepServing: readonly string[] },
): RetentionDecision {
  const now = input.now.getTime();
  const serve = new Set(focus.keepServing);
  const kept: VersionRecord[] = [];
  const phases: Record<string, VersionPhase> = {};
  const previous: VersionRecord[] = [];
  let requeueAfterMs: number | undefined;
  if (focus.active) {
    serve.add(focus.active);
    phases[focus.active] = "Active";
  }
  for (const record of records.values()) {
    if (record.version === focus.active) record.workers = input.store !== undefined;
    if (record.version === focus.spec || record.version === focus.active) kept.push(record);
    // A version never activated and no longer wanted was superseded: drop its record.
    else if (record.activatedTime !== undefined) previous.push(record);
  }
  const leftAt = (record: VersionRecord) =>
    record.deactivatedTime === undefined ? now : Date.parse(record.deactivatedTime);
  previous.sort((a, b) => leftAt(b) - leftAt(a));
  const tombstones: VersionRecord[] = [];
  let retained = 0;
  for (const record of previous) {
    const version = record.version;
    const bakeEnd = leftAt(record) + input.policy.bakeSeconds * 1000;
    if (record.collected === true) {
      record.workers = false;
      tombstones.push(record);
    } else if (now < bakeEnd) {
      serve.add(version);
      record.workers = input.store !== undefined;
      phases[version] = "Draining";
      kept.push(record);
      requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, bakeEnd - now);
    } else if (
      input.store !== undefined &&
      input.store.backup !== version &&
      vectorsLeaving(input.store.versions[version])
    ) {
      // Its collection started, or finished before its record said so: its vectors are partly or
      // wholly gone (retainVersions raised meanwhile cannot bring them back), so it is not Retained
      // but collected to the end.
      record.workers = false;
      if (input.store.versions[version] === undefined) {
        record.collected = true;
        tombstones.push(record);
      } else kept.push(record); // until the store has let go of it
    } else if (retained < input.policy.retainVersions || input.store?.backup === version) {
      // The store never collects its backup (the version a rollback flips to), so neither do we.
      retained += 1;
      record.workers = false;
      phases[version] = "Retained";
      kept.push(record);
    } else if (input.store === undefined) {
      record.workers = false;
      record.collected = true;
      tombstones.push(record);
    } else {
      record.workers = false;
      kept.push(record); // until the store has let go of it
    }
  }
  // Store versions with no phase are superseded builds or beyond retention; one in a state a newer
  // release wrote (after a downgrade) is that release's to collect, not this one's.
  const unwanted = Object.keys(input.store?.versions ?? {}).filter(
    (version) =>
      phases[version] === undefined &&
      isKnownVersionState(input.store?.versions[version]) &&
      version !== focus.spec &&
      version !== focus.active &&
      version !== input.store?.current &&
      version !== input.store?.backup,
  );
  // Writers still running would recreate what is collected; wait until they are gone.
  const collect = unwanted.filter((version) => !input.writersPresent.includes(version));
  if (unwanted.length > 0)
    requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, input.collectionPollMs ?? collectionPollMs);
  const result = [...kept, ...(input.store === undefined ? [] : tombstones.slice(0, collectedRecordsKept))];
  const workers = result.filter((record) => record.workers === true).map((record) => record.version);
  return { serve: [...serve], workers, collect, records: result, phases, requeueAfterMs };
}

/** A store version being deleted, or gone. */
function vectorsLeaving(state: string | undefined): boolean {
  return state === "deleting" || state === undefined;
}
