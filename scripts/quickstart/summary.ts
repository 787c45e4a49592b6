// The quickstart's closing summary, computed from what it measured (pure, so the arithmetic is tested
// and the e2e test can compare each figure with what the generator put in).
import type { EntityKind } from "./changelog.ts";
import type { Scored } from "./similarity.ts";

/** A NearlinePipeline version's counters (status.versions[]), read before and after the replay. */
export interface PipelineCounters {
  processed: number;
  embedded: number;
  skippedUnchanged: number;
  deleted: number;
  deadLettered: number;
  freshnessP95Ms?: number;
}

/** A BootstrapRun's final progress. */
export interface BootstrapCounters {
  name: string;
  version: string;
  processed: number;
  embedded: number;
  deduplicated: number;
}

export interface Measurements {
  activeVersion: string;
  /** Per pipeline, the active version's counters just before and just after the replay. */
  replay: Array<{ pipeline: string; before: PipelineCounters; after: PipelineCounters }>;
  replayEvents: number;
  replaySeconds: number;
  /** The first version's bootstrap runs. */
  bootstraps: BootstrapCounters[];
  /** Entities of the changelog's final state found in the store under the active version. */
  storeCounts: Record<EntityKind, number>;
  /** Live records of the active version by the store's own counters. */
  storeLive: number;
  /** From the spec.version change to the store pointer naming the new version. */
  cutoverSeconds: number;
  topJobs: Array<{ memberId: string; jobs: Scored[] }>;
}

export interface Summary {
  activeVersion: string;
  entitiesEmbedded: Record<EntityKind, number>;
  storeLive: number;
  replayEvents: number;
  replayEventsPerSecond: number;
  /** Replayed events skipped by change detection, over replayed events processed. */
  skipRatio: number;
  /** Bootstrap records that reused the vector of an identical text, over records upserted. */
  dedupRatio: number;
  /** Worst pipeline's freshness p95 right after the replay (event time to vector written). */
  freshnessP95Ms: number | undefined;
  deadLettered: number;
  cutoverSeconds: number;
  topJobs: Measurements["topJobs"];
}

const delta = (measure: Measurements["replay"], field: keyof PipelineCounters): number =>
  measure.reduce((sum, each) => sum + ((each.after[field] ?? 0) - (each.before[field] ?? 0)), 0);

/** The summary's figures. */
export function summarize(measurements: Measurements): Summary {
  const processed = delta(measurements.replay, "processed");
  const upserted = measurements.bootstraps.reduce((sum, run) => sum + run.embedded + run.deduplicated, 0);
  const deduplicated = measurements.bootstraps.reduce((sum, run) => sum + run.deduplicated, 0);
  const freshness = measurements.replay
    .map((each) => each.after.freshnessP95Ms)
    .filter((value): value is number => value !== undefined);
  return {
    activeVersion: measurements.activeVersion,
    entitiesEmbedded: measurements.storeCounts,
    storeLive: measurements.storeLive,
    replayEvents: measurements.replayEvents,
    replayEventsPerSecond:
      measurements.replaySeconds > 0 ? measurements.replayEvents / measurements.replaySeconds : 0,
    skipRatio: processed === 0 ? 0 : delta(measurements.replay, "skippedUnchanged") / processed,
    dedupRatio: upserted === 0 ? 0 : deduplicated / upserted,
    freshnessP95Ms: freshness.length === 0 ? undefined : Math.max(...freshness),
    deadLettered: delta(measurements.replay, "deadLettered"),
    cutoverSeconds: measurements.cutoverSeconds,
    topJobs: measurements.topJobs,
  };
}

const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

/** The summary as the quickstart prints it. */
export function renderSummary(summary: Summary, jobTitles: Map<string, string> = new Map()): string {
  const lines = [
    "Summary",
    `  active version            ${summary.activeVersion}`,
    `  entities embedded         ${summary.entitiesEmbedded.job} job postings, ${summary.entitiesEmbedded["member-profile"]} member profiles (store: ${summary.storeLive} live records under ${summary.activeVersion})`,
    `  changelog replayed        ${summary.replayEvents} events (${summary.replayEventsPerSecond.toFixed(0)}/s produced)`,
    `  skip ratio                ${percent(summary.skipRatio)} of replayed events skipped as unchanged (no inference)`,
    `  dedup ratio               ${percent(summary.dedupRatio)} of bootstrap records reused an identical text's vector`,
    `  freshness p95             ${summary.freshnessP95Ms === undefined ? "not reported" : `${Math.round(summary.freshnessP95Ms)} ms`} (event time to vector written)`,
    `  dead-lettered             ${summary.deadLettered}`,
    `  cutover time              ${summary.cutoverSeconds.toFixed(1)} s (spec.version change to readers on the new version)`,
    "  top 5 jobs by cosine similarity (read through the store's reader client):",
  ];
  for (const member of summary.topJobs) {
    lines.push(`    ${member.memberId}:`);
    for (const job of member.jobs)
      lines.push(
        `      ${job.score.toFixed(4)}  ${job.id}${jobTitles.has(job.id) ? `  ${jobTitles.get(job.id)}` : ""}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * What the quickstart prints after the summary. On a terminal the dashboard keeps running until
 * Ctrl-C; non-interactively it stops as the run exits, so its URL would be a dead link: the commands
 * that serve the dashboard and the status again are given instead.
 */
export function closingText(run: {
  elapsedSeconds: number;
  url: string;
  namespace: string;
  kubeconfig: string;
  interactive: boolean;
}): string {
  const plugin = (command: string) =>
    `npm run kubectl-jude -- ${command} -n ${run.namespace} --kubeconfig ${run.kubeconfig}`;
  const took = `\nThe quickstart took ${run.elapsedSeconds.toFixed(0)} s.`;
  return run.interactive
    ? `${took} Dashboard: ${run.url}\n` +
        `Status from a terminal: ${plugin("status")}\n` +
        "The dashboard keeps running; Ctrl-C stops everything the quickstart started.\n"
    : `${took}\nStatus from a terminal: ${plugin("status")}\n` +
        `Dashboard (this run's stops as it exits): ${plugin("dashboard")}\n` +
        "Everything else stays up for a re-run; `npm run quickstart -- down` stops it.\n";
}
