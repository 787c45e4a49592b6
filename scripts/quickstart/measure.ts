// Reading back what the platform did: pipeline counters from the NearlinePipelines' status, bootstrap
// counts from the BootstrapRuns, entity counts of a version from the store's own counters, and the top
// jobs for members through the store's reader client.
import type { BootstrapRun, NearlinePipeline } from "../../crds/index.ts";
import type { KubeClient } from "../../operator/runtime/kube-client.ts";
import { resourcePath, resourceTypes } from "../../operator/runtime/resource-types.ts";
import { countVersion, type Store, type StoreReader } from "../../store/index.ts";
import type { EntityKind } from "./changelog.ts";
import { topByCosine, type Scored } from "./similarity.ts";
import type { BootstrapCounters, PipelineCounters } from "./summary.ts";

/** The counters of one version of a NearlinePipeline (zeros before the workers reported). */
export async function pipelineCounters(
  client: KubeClient,
  namespace: string,
  name: string,
  version: string,
): Promise<PipelineCounters & { lag: number | undefined }> {
  const pipeline = await client.get<NearlinePipeline>(
    resourcePath(resourceTypes.nearlinePipeline, namespace, name),
  );
  const figures = pipeline?.status?.versions?.find((each) => each.version === version);
  return {
    processed: figures?.processed ?? 0,
    embedded: figures?.embedded ?? 0,
    skippedUnchanged: figures?.skippedUnchanged ?? 0,
    deleted: figures?.deleted ?? 0,
    deadLettered: figures?.deadLettered ?? 0,
    lag: figures?.lag,
    ...(figures?.freshnessP95Ms !== undefined && { freshnessP95Ms: figures.freshnessP95Ms }),
  };
}

/**
 * The bootstrap bar's figures over several runs: records processed out of their totals, or out of the
 * records the quickstart seeded while some run has not counted its partitions yet (a bar of "0/1", or
 * one out of a single run's total, said nothing true).
 */
export function bootstrapProgress(
  runs: Array<{ processed: number; total?: number | undefined }>,
  seeded: number,
): { done: number; total: number } {
  const done = runs.reduce((sum, run) => sum + run.processed, 0);
  const counted = runs.every((run) => run.total !== undefined);
  return { done, total: counted ? runs.reduce((sum, run) => sum + run.total!, 0) : seeded };
}

/** A BootstrapRun's phase and counts. */
export async function bootstrapCounters(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<BootstrapCounters & { phase: string; total: number | undefined }> {
  const run = await client.get<BootstrapRun>(resourcePath(resourceTypes.bootstrapRun, namespace, name));
  const progress = run?.status?.progress;
  return {
    name,
    version: run?.spec.modelVersion ?? "",
    phase: run?.status?.phase ?? "Pending",
    total: progress?.total,
    processed: progress?.processed ?? 0,
    embedded: progress?.embedded ?? 0,
    deduplicated: progress?.deduplicated ?? 0,
  };
}

/** Live records of a version in the store (its kept counters; no scan). */
export async function storeCount(store: Store, version: string): Promise<number> {
  return (await countVersion(store, version)).live;
}

/** How many of `ids` the reader finds in the version the pointer names. */
export async function presentCount(reader: StoreReader, entity: EntityKind, ids: string[]): Promise<number> {
  let present = 0;
  for (let index = 0; index < ids.length; index += 500)
    present += (await reader.getMany(entity, ids.slice(index, index + 500))).filter(
      (hit) => hit !== null,
    ).length;
  return present;
}

/**
 * The best `k` jobs for each member by cosine similarity, every vector read through the reader client
 * from the version readers use now (the one the pointer names).
 */
export async function topJobsFor(
  reader: StoreReader,
  memberIds: string[],
  jobIds: string[],
  k = 5,
): Promise<Array<{ memberId: string; version: string; jobs: Scored[] }>> {
  const jobs: Array<{ id: string; vector: Float32Array }> = [];
  const versions = new Set<string>();
  for (let index = 0; index < jobIds.length; index += 500) {
    const ids = jobIds.slice(index, index + 500);
    const hits = await reader.getMany("job" satisfies EntityKind, ids);
    hits.forEach((hit, position) => {
      if (hit === null) throw new Error(`job ${ids[position]} is missing from the store`);
      versions.add(hit.version);
      jobs.push({ id: ids[position]!, vector: hit.vector });
    });
  }
  const members = await reader.getMany("member-profile" satisfies EntityKind, memberIds);
  return members.map((hit, position) => {
    if (hit === null) throw new Error(`member ${memberIds[position]} is missing from the store`);
    versions.add(hit.version);
    if (versions.size > 1)
      throw new Error(`vectors from two versions were mixed: ${[...versions].join(", ")}`);
    return { memberId: memberIds[position]!, version: hit.version, jobs: topByCosine(hit.vector, jobs, k) };
  });
}
