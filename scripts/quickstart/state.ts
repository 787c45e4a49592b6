// What `npm run quickstart` made, so that `down` removes exactly that: the testbed components it
// started, the namespaces it used, the operator's Helm release (and its namespace, if the quickstart
// created it), and each story run's Kafka topics, consumer groups and store. Everything is recorded
// before it is made, so a run that fails half-way still leaves a complete list behind.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { ComponentName } from "../../test/testbed/index.ts";
import { quickstartStateFile, quickstartSummaryFile } from "./files.ts";

/** The quickstart's record (the file `quickstart.json`). */
export interface QuickstartState {
  started: ComponentName[];
  namespaces: string[];
  /**
   * The operator's release; `namespaceCreated` when the quickstart created its namespace. A file
   * written before this field existed has none: its release counts as installed by the quickstart.
   */
  operator?: { release: string; namespace: string; namespaceCreated: boolean };
  /** Topics of the story runs, dead-letter topics included. */
  topics?: string[];
  consumerGroups?: string[];
  /** Store names (the Redis prefix of each is `jude:<name>`). */
  stores?: string[];
}

/** The recorded state; undefined when there is none (nothing to remove). */
export function readQuickstartState(): QuickstartState | undefined {
  const file = quickstartStateFile();
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as QuickstartState) : undefined;
}

/** Adds to the record: lists are merged, and a namespace the quickstart once created stays its own. */
export function recordInState(addition: Partial<QuickstartState>): void {
  const previous = readQuickstartState() ?? { started: [], namespaces: [] };
  const union = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] => [
    ...new Set([...(a ?? []), ...(b ?? [])]),
  ];
  const operator = addition.operator ?? previous.operator;
  const next: QuickstartState = {
    started: union(previous.started, addition.started),
    namespaces: union(previous.namespaces, addition.namespaces),
    ...(operator !== undefined
      ? {
          operator: {
            ...operator,
            namespaceCreated: operator.namespaceCreated || previous.operator?.namespaceCreated === true,
          },
        }
      : {}),
    topics: union(previous.topics, addition.topics),
    consumerGroups: union(previous.consumerGroups, addition.consumerGroups),
    stores: union(previous.stores, addition.stores),
  };
  writeFileSync(quickstartStateFile(), JSON.stringify(next));
}

/** Replaces the record with what is still left (`down` could not remove it), or deletes it. */
export function writeRemaining(remaining: QuickstartState | undefined): void {
  if (remaining === undefined) rmSync(quickstartStateFile(), { force: true });
  else writeFileSync(quickstartStateFile(), JSON.stringify(remaining));
}

/**
 * Removes the last run's summary: `down` (and Ctrl-C) take its run away, and a new `up` replaces it, so
 * that figures left in the file never pass for those of a run that was torn down, failed or is still
 * going.
 */
export function discardSummary(): void {
  rmSync(quickstartSummaryFile(), { force: true });
}
