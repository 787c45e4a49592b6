/**
 * `npm run quickstart -- --non-interactive` on the testbed, checked against what it put in: the
 * generator's own counts (entities, replayed events), the skip ratio equal to the share of no-op
 * updates it injected, the dedup ratio of its duplicate texts, every live entity present in the store
 * under the active (promoted) version and every deleted one absent, and the printed top-five jobs equal
 * to a brute-force cosine search over vectors read independently of the quickstart. Then
 * `npm run quickstart -- down` removes what the quickstart installed and leaves the shared testbed up.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bruteForceTopK } from "../../scripts/quickstart/similarity.ts";
import { generateChangelog, type EntityKind } from "../../scripts/quickstart/changelog.ts";
import type { StoryResult } from "../../scripts/quickstart/story.ts";
import { sampleMembers } from "../../scripts/quickstart/story.ts";
import { connectRedis, openStore, StoreReader, type RedisClient } from "../../store/index.ts";
import { requireEnv } from "../support/env.ts";
import { kubectl } from "../support/kubectl.ts";
import { repoRoot } from "../testbed/paths.ts";
import { quickstartSummaryFile } from "../../scripts/quickstart/files.ts";

const run = promisify(execFile);
const namespaceExists = (name: string) =>
  kubectl(["get", "namespace", name, "--ignore-not-found", "-o", "name"]).then((out) => out.trim() !== "");
const namespace = "quickstart-e2e";
const quickstart = (...args: string[]) =>
  run(process.execPath, [join(repoRoot, "scripts/quickstart.ts"), ...args], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 1_500_000,
  });

let output: string;
/** Whether the operator's namespace existed before the quickstart (then `down` must leave it). */
let operatorNamespaceBefore: boolean;
let result: StoryResult & { elapsedSeconds: number };
let redis: RedisClient;
let reader: StoreReader;
const changelog = generateChangelog();

beforeAll(async () => {
  operatorNamespaceBefore = await namespaceExists("jude-system");
  const { stdout } = await quickstart("--non-interactive", "--dashboard-port", "0", "--namespace", namespace);
  output = stdout;
  result = JSON.parse(readFileSync(quickstartSummaryFile(), "utf8")) as typeof result;
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  reader = await StoreReader.open(await openStore(redis, { name: result.storeName }));
}, 1_600_000);

afterAll(async () => {
  await reader?.close();
  redis?.disconnect();
});

describe("npm run quickstart", () => {
  it("prints every act, the summary and the dashboard URL", () => {
    for (const act of [
      "The platform",
      "seeded snapshot",
      "The changelog",
      "Promotion of minilm-v2",
      "Summary",
    ])
      expect(output).toContain(act);
    expect(output).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    expect(output).toContain("readers switched to minilm-v2");
  });

  it("reports counts, skip ratio and dedup ratio equal to what it put in", () => {
    const { summary, expected } = result;
    expect(summary.activeVersion).toBe("minilm-v2");
    expect(summary.replayEvents).toBe(expected.replay.total);
    expect(expected.replay.total).toBeGreaterThanOrEqual(2000);
    expect(summary.entitiesEmbedded).toEqual(expected.final);
    expect(summary.storeLive).toBe(expected.final.job + expected.final["member-profile"]);
    expect(summary.skipRatio).toBeCloseTo(expected.noopShare, 9);
    expect(summary.dedupRatio).toBeCloseTo(expected.dedupRatio, 9);
    expect(summary.deadLettered).toBe(0);
    expect(summary.cutoverSeconds).toBeGreaterThan(0);
    // The workers' freshness reaches the pipelines' status (a missing figure prints "not reported").
    expect(summary.freshnessP95Ms).toBeGreaterThan(0);
  });

  it("leaves every live entity in the store under the active version, and no deleted one", async () => {
    expect(reader.pointer.current).toBe("minilm-v2");
    for (const kind of ["job", "member-profile"] as EntityKind[]) {
      const live = [...changelog.final[kind].keys()];
      const hits = await reader.getMany(kind, live);
      expect(hits.filter((hit) => hit === null)).toHaveLength(0);
      expect(new Set(hits.map((hit) => hit!.version))).toEqual(new Set(["minilm-v2"]));
      const deleted = changelog.replay.filter((event) => event.kind === kind && event.op === "delete");
      expect(deleted.length).toBeGreaterThan(0);
      const gone = await reader.getMany(
        kind,
        deleted.map((event) => event.id),
      );
      expect(gone.every((hit) => hit === null)).toBe(true);
    }
  });

  it("lists the top five jobs a brute-force cosine search finds", async () => {
    const jobIds = [...changelog.final.job.keys()];
    const jobs = (await reader.getMany("job", jobIds, { version: "minilm-v2" })).map((hit, index) => ({
      id: jobIds[index]!,
      vector: hit!.vector,
    }));
    expect(result.summary.topJobs.map((member) => member.memberId)).toEqual(sampleMembers(changelog));
    for (const member of result.summary.topJobs) {
      const query = (await reader.get("member-profile", member.memberId, { version: "minilm-v2" }))!.vector;
      const expected = bruteForceTopK(query, jobs, 5);
      expect(member.jobs.map((job) => job.id)).toEqual(expected.map((job) => job.id));
      member.jobs.forEach((job, index) => expect(job.score).toBeCloseTo(expected[index]!.score, 6));
    }
  });

  it("down removes the operator, the namespaces, topics and store keys it made, leaving the shared testbed up", async () => {
    await quickstart("down");
    await expect(kubectl(["get", "namespace", namespace])).rejects.toThrow(/not found/);
    expect(await namespaceExists("jude-system")).toBe(operatorNamespaceBefore);
    await expect(kubectl(["get", "namespace", "default"])).resolves.toContain("default");
    const prefix = `jude:${result.storeName}`;
    expect([...(await redis.keys(`{${prefix}}*`)), ...(await redis.keys(`{${prefix}:*`))]).toEqual([]);
    const admin = new Admin({
      clientId: "jude-test-admin",
      bootstrapBrokers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")],
    });
    try {
      const topics = await admin.listTopics();
      for (const topic of Object.values(result.topics)) {
        expect(topics).not.toContain(topic);
        expect(topics).not.toContain(`${topic}.dlq`);
      }
    } finally {
      await admin.close();
    }
  });
});
