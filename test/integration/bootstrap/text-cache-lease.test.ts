/**
 * A shard isolating a text that hangs the embedding server (DEADLINE_EXCEEDED: tries, a probe, halving
 * down to the lone text) holds its batch's texts longer than the text cache's claim lease. Is that a
 * defect? Two shards of one run, wired as the shards wire them (`createTextVectors`), on the testbed's
 * real Redis and a scripted gRPC server whose calls with the poison text never return, with a lease
 * (1 s) shorter than shard A's isolation (several 0.5 s deadlines):
 *   - shard B meets the same texts while A holds them: it waits on A's claims, takes them over when
 *     the lease expires, and embeds the texts A has not yet put — duplicate work (each good text is
 *     embedded by both), and B isolates the poison text too (as it would anyway: a failed text's claim
 *     is released, never cached);
 *   - no lost write and no wrong value: the cache (first writer wins, HSETNX) holds exactly one vector
 *     per good text, the same as each shard got; the poison text is cached by neither, and no claim
 *     is left behind (a third shard may claim it at once).
 * So the expired lease costs only duplicate embedding of identical texts with identical results; the
 * claim is not renewed while a request waits, and need not be.
 */
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTextVectors } from "../../../pipelines/bootstrap/app.ts";
import type { BootstrapConfig } from "../../../pipelines/bootstrap/config.ts";
import { createPipelineMetrics } from "../../../pipelines/shared/metrics.ts";
import { claimTexts, getTexts } from "../../../store/index.ts";
import { scriptedVector, useScriptedEmbedding } from "../../support/scripted-embedding-server.ts";
import { createBootstrapStore } from "./helpers.ts";

// A call the server never answers ends after half a second (DEADLINE_EXCEEDED).
const scripted = useScriptedEmbedding({ timeoutMs: 500 });
let target: Awaited<ReturnType<typeof createBootstrapStore>>;

beforeAll(async () => {
  target = await createBootstrapStore("shardalerts-lease");
});

afterAll(async () => {
  await target?.drop();
});

const leaseMs = 1_000;
const texts = ["Job: Nurse", "Job: Poison", "Job: Pilot", "Job: Chef"].map((text, index) => ({
  text,
  hash: `${index}`.repeat(16),
}));
const poison = "Job: Poison";

/** Shard `index` of one run, as the shard wires its text vectors (dedupe through the store's cache). */
function shard(index: number) {
  const config = {
    run: { namespace: "test", name: "shardalerts-lease" },
    shards: { count: 3, index },
    model: { version: "v2", digest: scripted.server.digest },
    store: { dtype: "f32" },
    dedupe: true,
    textCache: { leaseMs, pollMs: 50, localEntries: 0 },
    embedding: { maxBatchSize: 64, maxInflight: 2 },
  } as unknown as BootstrapConfig;
  const logger = pino({ level: "silent" });
  let embedded = 0;
  const vectors = createTextVectors(
    config,
    {
      logger,
      embedCall: scripted.connection.call,
      isRetryableEmbedError: scripted.connection.isRetryable,
    },
    target.store,
    { onEmbedded: async (count) => void (embedded += count) },
    {
      metrics: createPipelineMetrics(new Registry()),
      labels: { pipeline: "test/shardalerts-lease", version: "v2" },
      logger,
    },
  );
  return { vectors, embedded: () => embedded };
}

/** Resolves once the server has received a call carrying `text`. */
async function received(text: string, from = 0): Promise<void> {
  while (!scripted.server.calls.slice(from).some((call) => call.includes(text)))
    await new Promise((resolve) => setImmediate(resolve));
}

it("a shard isolating a hanging text past the claim lease: another shard re-embeds its texts, nothing is lost or wrong", async () => {
  scripted.server.fail = () => undefined;
  scripted.server.hang = (batch) => batch.includes(poison);
  const a = shard(0);
  const b = shard(1);
  const fromA = a.vectors.vectorsFor(texts);
  await received(poison);
  const callsBeforeB = scripted.server.calls.length;
  const fromB = b.vectors.vectorsFor(texts);
  const [resultA, resultB] = await Promise.all([fromA, fromB]);

  const good = texts.filter((each) => each.text !== poison);
  for (const result of [resultA, resultB]) {
    expect(result.vectors.map((vector) => vector !== undefined)).toEqual([true, false, true, true]);
    expect([...result.failed.keys()]).toEqual([texts[1]!.hash]);
    expect(result.failed.get(texts[1]!.hash)).toContain("DEADLINE_EXCEEDED");
    texts.forEach((each, index) => {
      if (each.text !== poison) expect(result.vectors[index]).toEqual(scriptedVector(each.text));
    });
  }
  // Duplicate work: B took over A's expired claims and embedded the good texts too, and isolated the
  // poison text on its own.
  expect(a.embedded()).toBe(3);
  expect(b.embedded()).toBe(3);
  const callsOfB = scripted.server.calls.slice(callsBeforeB);
  for (const each of good) expect(callsOfB.some((call) => call.includes(each.text))).toBe(true);

  // No lost write, no wrong value: one vector per good text, the one both shards got.
  const cached = await getTexts(
    target.store,
    "v2",
    texts.map((each) => each.hash),
  );
  expect([...cached.keys()].sort()).toEqual(good.map((each) => each.hash).sort());
  for (const each of good) {
    expect(cached.get(each.hash)!.modelDigest).toBe(scripted.server.digest);
    expect(Float32Array.from(cached.get(each.hash)!.vector)).toEqual(scriptedVector(each.text));
  }
  // No claim left behind: a third shard gets the good texts ready and may claim the poison at once.
  const claims = await claimTexts(
    target.store,
    "v2",
    texts.map((each) => each.hash),
    { owner: "test/shardalerts-lease/2", leaseMs },
  );
  expect(claims.claimed).toEqual([texts[1]!.hash]);
  expect(claims.pending).toEqual([]);
  expect(claims.ready.size).toBe(3);
}, 60_000);
