// The quickstart's story, act by act, on a platform that is up: the example objects with a seeded
// snapshot and its bootstrap, the live changelog replay through the nearline pipelines, the promotion
// of the int8 model by changing spec.version (narrated from a watch of the EmbeddingModel), then the
// measured summary.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { EmbeddingModel } from "../../crds/index.ts";
import { resourcePath, resourceTypes } from "../../operator/runtime/resource-types.ts";
import { connectRedis, openStore, StoreReader } from "../../store/index.ts";
import { waitFor } from "../../test/testbed/wait.ts";
import {
  defaultChangelogOptions,
  expectedFigures,
  generateChangelog,
  type EntityKind,
  type GeneratedChangelog,
} from "./changelog.ts";
import { consumerGroup } from "../../controllers/shared/names.ts";
import { createChangelogTopics, deadLetterTopic, produceChangelog } from "./kafka-io.ts";
import { promotedVersion, quickstartFiles, quickstartObjects, type ManifestValues } from "./manifests.ts";
import {
  bootstrapCounters,
  bootstrapProgress,
  pipelineCounters,
  presentCount,
  storeCount,
  topJobsFor,
} from "./measure.ts";
import type { Narrator } from "./narrator.ts";
import { resetStory, type Platform } from "./platform.ts";
import { promote } from "./promote.ts";
import { recordInState } from "./state.ts";
import {
  summarize,
  type BootstrapCounters,
  type Measurements,
  type PipelineCounters,
  type Summary,
} from "./summary.ts";

const firstVersion = "minilm-v1";
const pipelines: Record<EntityKind, string> = { job: "jobs", "member-profile": "member-profiles" };
const fieldManager = "jude-quickstart";
/** Members whose top jobs the summary lists: the first three (by id) alive after the changelog. */
export function sampleMembers(changelog: GeneratedChangelog): string[] {
  return [...changelog.final["member-profile"].keys()].sort().slice(0, 3);
}

export interface StoryResult {
  namespace: string;
  storeName: string;
  topics: Record<EntityKind, string>;
  summary: Summary;
  expected: ReturnType<typeof expectedFigures>;
}

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

const persistentVolume = {
  group: "",
  version: "v1",
  kind: "PersistentVolume",
  plural: "persistentvolumes",
  namespaced: false,
};

/** Server-side apply of one object (the quickstart owns its fields, like a GitOps tool would). */
async function apply(platform: Platform, object: Record<string, unknown>): Promise<void> {
  const metadata = object.metadata as { name: string; namespace?: string };
  const kind = object.kind as string;
  const type = [...Object.values(resourceTypes), persistentVolume].find(
    (candidate) => candidate.kind === kind,
  );
  if (type === undefined) throw new Error(`the quickstart cannot apply a ${kind}`);
  await platform.client.apply(
    resourcePath(type, metadata.namespace, metadata.name),
    object,
    fieldManager,
    true,
  );
}

/** Runs the story; `dashboardUrl` is printed where the user should look. */
export async function runStory(
  platform: Platform,
  narrator: Narrator,
  namespace: string,
  dashboardUrl: string,
): Promise<StoryResult> {
  const { client, env } = platform;
  const modelDir = env.JUDE_MODEL_DIR!;
  // Each run gets its own topics and store, so a re-run tells the story from the start on the same platform.
  const run = randomBytes(3).toString("hex");
  const topics = {
    job: `quickstart.${run}.jobs.changelog`,
    "member-profile": `quickstart.${run}.member-profiles.changelog`,
  };
  const values: ManifestValues = {
    NAMESPACE: namespace,
    MODEL_DIR: modelDir,
    MODEL_SHA256: sha256(join(modelDir, "model.onnx")),
    KAFKA_BOOTSTRAP: env.JUDE_KAFKA_BOOTSTRAP!,
    JOBS_TOPIC: topics.job,
    MEMBERS_TOPIC: topics["member-profile"],
    STORE_NAME: `quickstart-${run}`,
  };
  const changelog = generateChangelog(defaultChangelogOptions);
  const expected = expectedFigures(changelog);

  narrator.act("The example objects, a seeded snapshot and its bootstrap");
  await resetStory(platform, namespace);
  await apply(platform, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "quickstart-redis", namespace },
    stringData: { url: env.JUDE_REDIS_URL! },
  });
  // Recorded before they exist, so `npm run quickstart -- down` removes them even after a failed run.
  recordInState({
    topics: Object.values(topics).flatMap((topic) => [topic, deadLetterTopic(topic)]),
    consumerGroups: Object.values(pipelines).flatMap((pipeline) =>
      [firstVersion, promotedVersion].map((version) => consumerGroup(namespace, pipeline, version)),
    ),
    stores: [values.STORE_NAME],
  });
  await createChangelogTopics(env.JUDE_KAFKA_BOOTSTRAP!, Object.values(topics));
  await produceChangelog(changelog.snapshot, {
    bootstrap: env.JUDE_KAFKA_BOOTSTRAP!,
    topics,
    onProgress: (sent, total) => narrator.progress("snapshot  ", sent, total),
  });
  narrator.done(
    `seeded ${expected.snapshot.job.entities} job postings and ${expected.snapshot["member-profile"].entities} member profiles (synthetic)`,
  );
  for (const file of quickstartFiles)
    for (const object of quickstartObjects(file, values)) {
      await apply(platform, object);
      narrator.done(`applied ${object.kind as string} ${(object.metadata as { name: string }).name}`);
    }
  narrator.detail(`watch it live: ${dashboardUrl}`);
  const runs = Object.values(pipelines).map((pipeline) => `${pipeline}-${firstVersion}`);
  await waitFor(
    "the bootstrap of minilm-v1",
    async () => {
      const counts = await Promise.all(runs.map((name) => bootstrapCounters(client, namespace, name)));
      const { done, total } = bootstrapProgress(counts, changelog.snapshot.length);
      narrator.progress("bootstrap ", done, total);
      const failed = counts.find((each) => each.phase === "Failed");
      if (failed !== undefined) throw new Error(`BootstrapRun ${failed.name} failed`);
      return counts.every((each) => each.phase === "Succeeded");
    },
    { timeoutMs: 900_000, intervalMs: 1_000 },
  );
  const bootstraps = await Promise.all(runs.map((name) => bootstrapCounters(client, namespace, name)));
  narrator.done(
    `minilm-v1 bootstrapped: ${bootstraps.reduce((sum, run) => sum + run.embedded, 0)} texts embedded, ${bootstraps.reduce((sum, run) => sum + run.deduplicated, 0)} duplicates reused`,
  );

  await waitFor(
    `${firstVersion} to go live`,
    async () => {
      const model = await client.get<EmbeddingModel>(
        resourcePath(resourceTypes.embeddingModel, namespace, "jude-minilm"),
      );
      const promoted = model?.status?.conditions?.find((condition) => condition.type === "Promoted");
      return model?.status?.activeVersion === firstVersion && promoted?.status === "True";
    },
    { timeoutMs: 600_000, intervalMs: 1_000 },
  );
  narrator.done(`${firstVersion} is live: its gates passed and the store's pointer names it`);

  narrator.act("The changelog, live through the nearline pipelines");
  await narrator.pause(`next: ${expected.replay.total} changes (creates, updates, no-op updates, deletes)`);
  await waitFor(
    "nearline workers of minilm-v1 reporting",
    async () => {
      for (const pipeline of Object.values(pipelines)) {
        const counters = await pipelineCounters(client, namespace, pipeline, firstVersion);
        if (counters.lag === undefined || counters.lag > 0) return false;
      }
      return true;
    },
    { timeoutMs: 600_000, intervalMs: 1_000 },
  );
  const before = await Promise.all(
    Object.values(pipelines).map((pipeline) => pipelineCounters(client, namespace, pipeline, firstVersion)),
  );
  const replayStarted = Date.now();
  await produceChangelog(changelog.replay, {
    bootstrap: env.JUDE_KAFKA_BOOTSTRAP!,
    topics,
    ratePerSecond: 200,
    onProgress: (sent, total) => narrator.progress("changelog ", sent, total),
  });
  const replaySeconds = (Date.now() - replayStarted) / 1000;
  const perPipeline = Object.fromEntries(
    (Object.keys(pipelines) as EntityKind[]).map((kind) => [
      pipelines[kind],
      changelog.replay.filter((event) => event.kind === kind).length,
    ]),
  );
  await waitFor(
    "the pipelines to process the changelog",
    async () => {
      let done = 0;
      for (const [index, pipeline] of Object.values(pipelines).entries()) {
        const counters = await pipelineCounters(client, namespace, pipeline, firstVersion);
        done += Math.min(counters.processed - before[index]!.processed, perPipeline[pipeline]!);
      }
      narrator.progress("processed ", done, expected.replay.total);
      return done >= expected.replay.total;
    },
    { timeoutMs: 600_000, intervalMs: 1_000 },
  );
  const after = await Promise.all(
    Object.values(pipelines).map((pipeline) => pipelineCounters(client, namespace, pipeline, firstVersion)),
  );
  narrator.done("the store is up to date with the changelog");

  narrator.act(`Promotion of ${promotedVersion} (int8) by changing spec.version`);
  await narrator.pause(`next: spec.version ${firstVersion} -> ${promotedVersion}, the gated cutover`);
  const cutoverSeconds = await promote(platform, narrator, namespace, values);

  narrator.act("Summary");
  const measurements = await measure(platform, values.STORE_NAME, changelog, {
    before,
    after,
    bootstraps,
    replaySeconds,
    replayEvents: expected.replay.total,
    cutoverSeconds,
  });
  return { namespace, storeName: values.STORE_NAME, topics, summary: summarize(measurements), expected };
}

interface Observed {
  before: PipelineCounters[];
  after: PipelineCounters[];
  bootstraps: BootstrapCounters[];
  replaySeconds: number;
  replayEvents: number;
  cutoverSeconds: number;
}

/** Reads the store through the reader client (the pointer's version) and assembles the measurements. */
async function measure(
  platform: Platform,
  storeName: string,
  changelog: GeneratedChangelog,
  observed: Observed,
): Promise<Measurements> {
  const redis = connectRedis({ url: platform.env.JUDE_REDIS_URL! });
  try {
    const store = await openStore(redis, { name: storeName });
    const reader = await StoreReader.open(store);
    try {
      const activeVersion = reader.pointer.current ?? "";
      const topJobs = await topJobsFor(reader, sampleMembers(changelog), [...changelog.final.job.keys()]);
      return {
        activeVersion,
        replay: Object.values(pipelines).map((pipeline, index) => ({
          pipeline,
          before: observed.before[index]!,
          after: observed.after[index]!,
        })),
        replayEvents: observed.replayEvents,
        replaySeconds: observed.replaySeconds,
        bootstraps: observed.bootstraps,
        storeCounts: {
          job: await presentCount(reader, "job", [...changelog.final.job.keys()]),
          "member-profile": await presentCount(reader, "member-profile", [
            ...changelog.final["member-profile"].keys(),
          ]),
        },
        storeLive: activeVersion === "" ? 0 : await storeCount(store, activeVersion),
        cutoverSeconds: observed.cutoverSeconds,
        topJobs: topJobs.map(({ memberId, jobs }) => ({ memberId, jobs })),
      };
    } finally {
      await reader.close();
    }
  } finally {
    redis.disconnect();
  }
}
