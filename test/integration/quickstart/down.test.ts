/**
 * `npm run quickstart -- down` against the testbed's real Kubernetes API server, Kafka and Redis: it
 * removes what the quickstart recorded — its namespaces (the operator's only if the quickstart created
 * it), its runs' topics, consumer groups and store keys — and nothing else: a store, topic and group
 * whose names merely start like the quickstart's stay. A second `down` finds nothing and succeeds.
 * (The operator release recorded here is a unique name, so the shared testbed's releases are safe.)
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consumerGroup } from "../../../controllers/shared/names.ts";
import { zeroCounts } from "../../../pipelines/bootstrap/checkpoint-codec.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { createChangelogTopics } from "../../../scripts/quickstart/kafka-io.ts";
import { quickstartSummaryFile } from "../../../scripts/quickstart/files.ts";
import { createNarrator } from "../../../scripts/quickstart/narrator.ts";
import { tearDown } from "../../../scripts/quickstart/platform.ts";
import { readQuickstartState, recordInState } from "../../../scripts/quickstart/state.ts";
import {
  connectRedis,
  openStore,
  putTexts,
  registerVersion,
  type RedisClient,
} from "../../../store/index.ts";
import { bootstrapBrokers } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";

const id = randomBytes(3).toString("hex");
const namespace = `qs-down-${id}`;
const operatorNamespace = `qs-down-op-${id}`;
const ours = {
  store: `quickstart-${id}`,
  topic: `quickstart.${id}.jobs.changelog`,
  group: consumerGroup(namespace, "jobs", "minilm-v1"),
};
// Names that start like ours but were not made by the quickstart.
const theirs = {
  store: `quickstart-${id}x`,
  topic: `quickstart.${id}.jobs.changelogx`,
  group: `${ours.group}x`,
};

let redis: RedisClient;

/** Keys of a store: its control slot `{P}…` and its buckets and checkpoints `{P:…}…`. */
async function storeKeys(store: string): Promise<string[]> {
  const prefix = `jude:${store}`;
  return [...(await redis.keys(`{${prefix}}*`)), ...(await redis.keys(`{${prefix}:*`))];
}

/** A store with control, bucket (text cache) and bootstrap checkpoint keys. */
async function fillStore(name: string): Promise<void> {
  const store = await openStore(redis, { name, create: true, buckets: 4 });
  await registerVersion(store, "minilm-v1", { modelDigest: "sha256:00", dimension: 2, dtype: "f32" });
  await putTexts(store, "minilm-v1", [{ textHash: "abcdefgh12", vector: [1, 2], modelDigest: "sha256:00" }]);
  const key = checkpointKey(store.layout.prefix, { namespace, name: "jobs-minilm-v1" }, 0);
  await new CheckpointStore(redis, key, 600).begin("work", () => ({
    fingerprint: "work",
    phase: "running",
    attempt: 0,
    startedAtMs: 0,
    updatedAtMs: 0,
    units: {},
    counts: zeroCounts(),
  }));
}

async function withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    return await work(admin);
  } finally {
    await admin.close();
  }
}

/** Creates the group with a committed offset, as a version's workers leave it. */
async function commitGroup(group: string, topic: string): Promise<void> {
  await withAdmin((admin) =>
    admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 0n }] }],
    }),
  );
}

const namespaceExists = (name: string) =>
  kubectl(["get", "namespace", name, "--ignore-not-found", "-o", "name"]).then((out) => out.trim() !== "");

describe("npm run quickstart -- down", () => {
  beforeAll(async () => {
    process.env.JUDE_QUICKSTART_STATE_DIR = mkdtempSync(join(tmpdir(), "quickstart-down-"));
    redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
    await kubectl(["create", "namespace", namespace]);
    await kubectl(["create", "namespace", operatorNamespace]);
    await createChangelogTopics(requireEnv("JUDE_KAFKA_BOOTSTRAP"), [ours.topic, theirs.topic]);
    await commitGroup(ours.group, ours.topic);
    await commitGroup(theirs.group, theirs.topic);
    await fillStore(ours.store);
    await fillStore(theirs.store);
    // What `up` records: the namespace, the release (and that it created the release's namespace),
    // and the story's topics, groups and store.
    recordInState({ started: [], namespaces: [namespace] });
    recordInState({
      operator: { release: `qs-down-${id}`, namespace: operatorNamespace, namespaceCreated: true },
    });
    recordInState({
      topics: [ours.topic, `${ours.topic}.dlq`],
      consumerGroups: [ours.group, consumerGroup(namespace, "jobs", "minilm-v2")],
      stores: [ours.store],
    });
  }, 120_000);

  afterAll(async () => {
    await redis?.unlink(...(await storeKeys(theirs.store)), "none").catch(() => undefined);
    await withAdmin(async (admin) => {
      await admin.deleteGroups({ groups: [theirs.group] }).catch(() => undefined);
      await admin.deleteTopics({ topics: [theirs.topic, `${theirs.topic}.dlq`] }).catch(() => undefined);
    }).catch(() => undefined);
    redis?.disconnect();
  });

  it("removes the recorded namespaces, topics, groups and store keys, and nothing else", async () => {
    expect(await storeKeys(ours.store)).not.toHaveLength(0);
    // The last run's summary goes with its run: left behind, it read as the figures of the next.
    writeFileSync(quickstartSummaryFile(), JSON.stringify({ storeName: ours.store }));
    await tearDown(createNarrator({ interactive: false }));
    expect(existsSync(quickstartSummaryFile())).toBe(false);

    expect(await namespaceExists(namespace)).toBe(false);
    expect(await namespaceExists(operatorNamespace)).toBe(false);
    const topics = await withAdmin((admin) => admin.listTopics());
    expect(topics).not.toContain(ours.topic);
    expect(topics).not.toContain(`${ours.topic}.dlq`);
    expect(topics).toEqual(expect.arrayContaining([theirs.topic, `${theirs.topic}.dlq`]));
    const groups = [...(await withAdmin((admin) => admin.listGroups())).keys()];
    expect(groups).not.toContain(ours.group);
    expect(groups).toContain(theirs.group);
    expect(await storeKeys(ours.store)).toEqual([]);
    expect((await storeKeys(theirs.store)).length).toBeGreaterThanOrEqual(3);
    expect(readQuickstartState()).toBeUndefined();
  }, 300_000);

  it("is idempotent: a second down, and a down of a record whose things are gone, succeed", async () => {
    const narrator = createNarrator({ interactive: false });
    await tearDown(narrator);
    recordInState({
      started: [],
      namespaces: [namespace],
      operator: { release: `qs-down-${id}`, namespace: operatorNamespace, namespaceCreated: true },
      topics: [ours.topic],
      consumerGroups: [ours.group],
      stores: [ours.store],
    });
    await tearDown(narrator);
    expect(readQuickstartState()).toBeUndefined();
    expect(await storeKeys(theirs.store)).not.toHaveLength(0);
  }, 300_000);
});
