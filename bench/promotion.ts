/**
 * Promotion benchmark: a whole promotion of an EmbeddingModel from v1 to v2 over 20,000 entities,
 * driven by the real EmbeddingModel controller (in this process) against the testbed's API server
 * (serving pods on kwok nodes) and the testbed's Redis store, while reader clients loop `getMany` over
 * every key. The data path is played by the benchmark as the bootstrap shards would (v2's 20,000
 * vectors written, the version marked complete, the runs Succeeded, the workers reported caught up);
 * the parity sample answers for serving pods that do not run on kwok nodes. Reports the time in each
 * phase of v2, the flip's duration, reader p99 in the second around the flip, and misses (must be 0)
 * and version mismatches (a vector from another model than the version it came with).
 *
 * Run with the testbed's environment: `npm run bench -- promotion [--json] [--keys N]`.
 */
import { parseArgs } from "node:util";
import {
  readPointer,
  StoreReader,
  StoreWriter,
  markVersionComplete,
  registerVersion,
} from "../store/index.ts";
import { pipeline, storeSecret } from "../test/integration/controllers/objects.ts";
import {
  applyObjects,
  finishBootstrap,
  openTestStore,
  reportCaughtUp,
  startPromotionOperator,
} from "../test/integration/controllers/harness.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
} from "../test/integration/operator/operator-harness.ts";
import { createTopics, uniqueTopic } from "../test/support/kafka.ts";
import { deleteKeysWithPrefix } from "../test/support/redis.ts";
import { machineInfo, percentile, round } from "./stats.ts";
import type { Store } from "../store/index.ts";

const dimension = 384;
const digestOf = (version: string) => `sha256:${(version === "v1" ? "1" : "2").repeat(64)}`;
/** Each version's vectors carry their version in the first element, so a mixed answer shows. */
const marker: Record<string, number> = { v1: 0.25, v2: 0.75 };

function modelAt(version: string): object {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "bench-model" },
    spec: {
      version,
      model: {
        uri: `file:///opt/models/${version}/model.onnx`,
        sha256: digestOf(version).slice(7),
        dimensions: dimension,
      },
      prompts: { job: "Job: {{title}}" },
      serving: { replicas: 1, resources: { requests: { cpu: "100m", memory: "128Mi" } } },
      promotion: { bakeSeconds: 600 },
    },
  };
}

/** What the bootstrap shards do: every entity's vector written, in batches. */
async function fill(store: Store, version: string, keys: number): Promise<void> {
  await registerVersion(store, version, { modelDigest: digestOf(version), dimension });
  const writer = new StoreWriter(store);
  const vector = Array.from({ length: dimension }, (_, index) => (index === 0 ? marker[version]! : 0.01));
  for (let start = 0; start < keys; start += 1000) {
    await writer.write(
      Array.from({ length: Math.min(1000, keys - start) }, (_, offset) => ({
        kind: "upsert" as const,
        entity: "job",
        id: String(start + offset),
        version,
        eventTimeMs: 1_000,
        offset: start + offset,
        partition: 0,
        vector,
        modelDigest: digestOf(version),
        contentHash: `h${start + offset}`,
      })),
    );
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function run(keys: number) {
  await installCrds();
  const namespace = `bench-promotion-${Date.now().toString(36)}`;
  await createRestrictedNamespace(namespace);
  const topic = uniqueTopic("bench-promotion");
  await createTopics([topic], 1);
  const storeName = namespace;
  const { store, close } = await openTestStore(storeName);
  const operator = startPromotionOperator(namespace, () => ({ sampled: 16, matched: 16, minCosine: 1 }));
  const readers: StoreReader[] = [];
  try {
    const status = async () =>
      ((await getObject("embeddingmodel/bench-model", namespace))?.status ?? {}) as {
        activeVersion?: string;
        versions?: { version: string; phase: string }[];
      };
    const runName = (version: string) => `jobs-${version}-promotion`;
    await applyObjects(namespace, [
      storeSecret(),
      pipeline("jobs", topic, (spec) => {
        spec.modelRef = { name: "bench-model" };
        spec.sinks.store.name = storeName;
      }),
      modelAt("v1"),
    ]);
    await waitUntil(async () => (await getObject(`bootstraprun/${runName("v1")}`, namespace)) !== undefined);
    await fill(store, "v1", keys);
    await markVersionComplete(store, "v1").catch(() => undefined);
    await finishBootstrap(store, namespace, runName("v1"), "v1");
    await reportCaughtUp(namespace, "jobs", ["v1"]);
    await waitUntil(async () => (await readPointer(store)).current === "v1");

    for (let index = 0; index < 2; index++) readers.push(await StoreReader.open(store));
    const samples: { at: number; ms: number }[] = [];
    const totals = { lookups: 0, misses: 0, mismatches: 0, errors: 0 };
    let reading = true;
    const loops = readers.map(async (reader) => {
      while (reading) {
        const ids = Array.from({ length: 50 }, () => String(Math.floor(Math.random() * keys)));
        const started = performance.now();
        try {
          const hits = await reader.getMany("job", ids);
          samples.push({ at: started, ms: performance.now() - started });
          for (const hit of hits) {
            if (hit === null) totals.misses++;
            else if (hit.vector[0] !== marker[hit.version] || hit.modelDigest !== digestOf(hit.version))
              totals.mismatches++;
          }
        } catch {
          totals.errors++;
        }
        totals.lookups++;
      }
    });

    const phases = new Map<string, number>();
    const started = performance.now();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const phase = (await status()).versions?.find((entry) => entry.version === "v2")?.phase;
        if (phase !== undefined && !phases.has(phase)) phases.set(phase, performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await applyObjects(namespace, [modelAt("v2")]);
    await waitUntil(async () => (await getObject(`bootstraprun/${runName("v2")}`, namespace)) !== undefined);
    const bootstrapStarted = performance.now();
    await fill(store, "v2", keys);
    await finishBootstrap(store, namespace, runName("v2"), "v2");
    const bootstrapMs = performance.now() - bootstrapStarted;
    await reportCaughtUp(namespace, "jobs", ["v1", "v2"]);
    let flipAt = 0;
    await waitUntil(async () => {
      if ((await readPointer(store)).current !== "v2") return false;
      flipAt = performance.now();
      return true;
    });
    await waitUntil(async () => (await status()).activeVersion === "v2");
    const promotionMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    reading = false;
    watching = false;
    await Promise.all([...loops, watcher]);

    const text = await operator.registry.metrics();
    const sum = Number(/jude_promotion_cutover_seconds_sum\{[^}]*kind="flip"\} (\S+)/.exec(text)?.[1] ?? NaN);
    const count = Number(
      /jude_promotion_cutover_seconds_count\{[^}]*kind="flip"\} (\S+)/.exec(text)?.[1] ?? NaN,
    );
    // Lookups that started in the second before the flip was first seen, or the second after.
    const aroundFlip = samples
      .filter((sample) => Math.abs(sample.at - flipAt) <= 1_000)
      .map((sample) => sample.ms);
    // Seconds v2 spent in each phase before the flip (a phase ends when the next is first seen).
    const ordered = [...phases.entries()].filter(([phase]) => phase !== "Active");
    const phaseTimes = Object.fromEntries(
      ordered.map(([phase, at], index) => [
        phase,
        round(((ordered[index + 1]?.[1] ?? flipAt - started) - at) / 1000),
      ]),
    );
    return {
      bench: "promotion",
      entities: keys,
      promotion_s: round(promotionMs / 1000),
      time_to_flip_s: round((flipAt - started) / 1000),
      phase_s: phaseTimes,
      bootstrap_write_s: round(bootstrapMs / 1000),
      // The flips this model made (v1 then v2): mean duration of the atomic pointer switch.
      flip_ms: round((sum / count) * 1000),
      reader_p99_flip_ms: round(percentile(aroundFlip, 0.99)),
      reader_p99_ms: round(
        percentile(
          samples.map((sample) => sample.ms),
          0.99,
        ),
      ),
      misses: totals.misses,
      version_mismatches: totals.mismatches,
      errors: totals.errors,
      lookups: totals.lookups,
      machine: machineInfo(),
    };
  } finally {
    await operator.stop();
    for (const reader of readers) await reader.close();
    await deleteKeysWithPrefix(store.client, `{${store.layout.prefix}`).catch(() => undefined);
    close();
    await deleteNamespace(namespace);
  }
}

const { values } = parseArgs({ options: { json: { type: "boolean" }, keys: { type: "string" } } });
const figures = await run(Number(values.keys ?? 20_000));
console.log(values.json ? JSON.stringify(figures) : figures);
process.exit(0);
