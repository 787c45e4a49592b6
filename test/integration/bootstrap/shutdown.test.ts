/**
 * Shutdown of a shard (SIGTERM = its abort signal) while a batch waits: on a text another shard has
 * claimed (up to `leaseMs`) or on an unavailable embedding server. The shard must stop promptly, well
 * within the pod's 30 s grace period, checkpoint `interrupted`, and lose nothing it embedded: the rerun
 * finishes without embedding any text twice. Also: inference counts are checkpointed with the batch
 * that made the requests, not with an earlier batch checkpointed meanwhile.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { silentLogger } from "../../../plumbing/logger.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import type { CheckpointState } from "../../../pipelines/bootstrap/checkpoint-codec.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { claimTexts, releaseTextClaims } from "../../../store/index.ts";
import {
  createBootstrapStore,
  endsPromptly,
  jobDocument,
  renderJob,
  runShardInProcess,
  shardConfig,
  shardDocument,
} from "./helpers.ts";
import { countingEmbed, startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";
import { waitFor } from "./embedding-gate.ts";

const dir = mkdtempSync(join(tmpdir(), "bootstrap-shutdown-"));
/** How long a shard may take from its abort to its end: far below the pod's 30 s grace period. */
const PROMPT_MS = 5_000;

function writeJobs(name: string, entities: number, distinct: number): string {
  const path = join(dir, name);
  const rows = Array.from({ length: entities }, (_, id) => JSON.stringify(jobDocument(id, distinct)));
  writeFileSync(path, rows.join("\n") + "\n");
  return pathToFileURL(path).href;
}

describe("bootstrap shard shutdown (real Redis and model)", () => {
  let model: ServedEmbedder;

  beforeAll(async () => {
    model = await startServedEmbedder();
  });
  afterAll(async () => {
    await model?.close();
  });

  function checkpointsOf(target: Awaited<ReturnType<typeof createBootstrapStore>>, run: string) {
    return new CheckpointStore(
      target.client,
      checkpointKey(`jude:${target.name}`, { namespace: "test", name: run }, 0),
      60,
    );
  }

  it("stops waiting for another shard's text claim on abort, and the rerun embeds nothing twice", async () => {
    const entities = 96;
    const distinct = 48;
    const target = await createBootstrapStore("term-claim");
    const document = shardDocument({
      storeName: target.name,
      run: "term-claim",
      source: { files: { uris: [writeJobs("claim.jsonl", entities, distinct)] } },
      shards: { count: 1, index: 0 },
      extra: {
        batching: { maxEntities: 16, inflightBatches: 2 },
        // The default lease: a wait on it is far longer than a pod's grace period.
        textCache: { pollMs: 20, leaseMs: 120_000 },
      },
    });
    // Another shard holds the claim on the first entity's text and is slow to embed it.
    const held = renderJob(jobDocument(0, distinct)).hash;
    const other = "test/term-claim-other/1";
    await claimTexts(target.store, "v2", [held], { owner: other, leaseMs: 120_000 });
    const abort = new AbortController();
    const first = countingEmbed(async (texts, signal) => {
      // SIGTERM once the shard is well into its work (the first batch waits on the claim meanwhile).
      setTimeout(() => abort.abort(), 500).unref();
      return model.embed(texts, signal);
    });
    const running = runShardInProcess(shardConfig(document), first.embed, abort.signal);
    running.catch(() => undefined);
    try {
      await waitFor(() => abort.signal.aborted, "the abort");
      const interrupted = await endsPromptly(PROMPT_MS, running);
      expect(interrupted.outcome).toBe("interrupted");
      const saved = await checkpointsOf(target, "term-claim").load();
      expect(saved).toMatchObject({ phase: "interrupted", attempt: 1 });
      expect(first.texts.length).toBeGreaterThan(0);
      // Everything the attempt embedded is counted, although its batches were not checkpointed.
      expect(saved!.counts.embedded).toBe(first.texts.length);

      // The other shard died: its claim is released; the rerun finishes without embedding anything twice.
      await releaseTextClaims(target.store, "v2", [held], other);
      const second = countingEmbed(model.embed);
      const resumed = await runShardInProcess(shardConfig(document), second.embed);
      expect(resumed).toMatchObject({ outcome: "done", resumed: true });
      const embedded = [...first.texts, ...second.texts];
      expect(new Set(embedded).size).toBe(embedded.length);
      expect(embedded).toHaveLength(distinct);
      expect(resumed.state.counts.embedded).toBe(distinct);
      // A batch written but abandoned before its checkpoint is re-applied at its stored position, which
      // counts as stale: each entity is written or stale, once.
      expect(resumed.state.counts.written + resumed.state.counts.stale).toBe(entities);
    } finally {
      await releaseTextClaims(target.store, "v2", [held], other).catch(() => undefined);
      await running.catch(() => undefined);
      await target.drop();
    }
  });

  it("stops retrying an unavailable embedding server on abort and checkpoints interrupted", async () => {
    const target = await createBootstrapStore("term-down");
    const document = shardDocument({
      storeName: target.name,
      run: "term-down",
      source: { files: { uris: [writeJobs("down.jsonl", 64, 64)] } },
      shards: { count: 1, index: 0 },
      extra: { batching: { maxEntities: 16, inflightBatches: 2 } },
    });
    const abort = new AbortController();
    const unavailable = Object.assign(new Error("embedding server unavailable (test)"), { down: true });
    let calls = 0;
    const running = runBootstrap(shardConfig(document), {
      logger: silentLogger(),
      embedCall: async () => {
        if (++calls === 3) abort.abort();
        throw unavailable;
      },
      isRetryableEmbedError: (error) => error === unavailable,
      signal: abort.signal,
    });
    running.catch(() => undefined);
    try {
      await waitFor(() => abort.signal.aborted, "the abort");
      const interrupted = await endsPromptly(PROMPT_MS, running);
      expect(interrupted.outcome).toBe("interrupted");
      expect(await checkpointsOf(target, "term-down").load()).toMatchObject({
        phase: "interrupted",
        counts: { written: 0, inferenceCalls: 0 },
      });
    } finally {
      abort.abort();
      await target.drop();
    }
  });

  it("checkpoints each batch's inference counts with that batch", async () => {
    const target = await createBootstrapStore("term-counts");
    const document = shardDocument({
      storeName: target.name,
      run: "term-counts",
      // Distinct texts: entity i's text is "Engineer grade i".
      source: { files: { uris: [writeJobs("counts.jsonl", 48, 1000)] } },
      shards: { count: 1, index: 0 },
      extra: {
        batching: { maxEntities: 16, inflightBatches: 2 },
        embedding: { endpoint: "unused:0", maxBatchSize: 8, maxInflight: 4 },
      },
    });
    const checkpoints = checkpointsOf(target, "term-counts");
    const idOf = (text: string) => Number(/grade (\d+)/.exec(text)![1]);
    // Batch 1 (ids 0-15) answers only after the first request of batch 2 (16-23) has returned; the
    // second request of batch 2 (24-31) waits until batch 1 is checkpointed and records that checkpoint.
    const secondBatchStarted = Promise.withResolvers<void>();
    let firstCheckpoint: CheckpointState | undefined;
    const embed = async (texts: string[], signal?: AbortSignal) => {
      const id = idOf(texts[0]!);
      if (id < 16) await secondBatchStarted.promise;
      if (id >= 24 && id < 32) {
        await waitFor(async () => ((await checkpoints.load())?.counts.written ?? 0) > 0, "batch 1 saved");
        firstCheckpoint = (await checkpoints.load()) ?? undefined;
      }
      const vectors = await model.embed(texts, signal);
      if (id >= 16 && id < 24) secondBatchStarted.resolve();
      return vectors;
    };
    const outcome = await runShardInProcess(shardConfig(document), embed);
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ written: 48, inferenceCalls: 6, inferenceTexts: 48 });
    // Batch 1's checkpoint carries its own two requests of 8 texts, not batch 2's finished request.
    expect(firstCheckpoint!.counts).toMatchObject({ written: 16, inferenceCalls: 2, inferenceTexts: 16 });
    await target.drop();
  });
});
