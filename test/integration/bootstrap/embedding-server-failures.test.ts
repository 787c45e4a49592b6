/**
 * The embedding server failing a call itself (gRPC INTERNAL or UNKNOWN) never fails a bootstrap shard,
 * and so never the whole run. A gRPC server in front of the real `jude serve` answers INTERNAL for calls
 * the test chooses:
 *   - twice for any call, then for one text only (a record the model cannot take): the passing
 *     failures are retried; after a few attempts and a probe the server answers, the request is halved
 *     until that text stands alone; its entity alone is counted `failed` and logged with code
 *     EMBEDDING_FAILED (the status, the server's code and message), the rest of the shard is written;
 *   - for every call (a broken server): nothing is counted failed or written, the shard waits, logging
 *     it, counting retries of the embedding dependency and, after a few seconds, saying so in its
 *     checkpoint (`waiting`, which the operator shows in the BootstrapRun's status); SIGTERM then ends it `interrupted` with its
 *     checkpoint kept, and the rerun, once the server answers, writes every entity.
 * Before, INTERNAL was neither retried nor isolated: it failed the shard at once, and a poison record
 * failed every retry of the Job, then the BootstrapRun (a version that could never be promoted).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { PROBE_TEXT } from "../../../pipelines/shared/embedding.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  startScriptedEmbeddingServer,
  type ScriptedEmbeddingServer,
} from "../../support/scripted-embedding-server.ts";
import { createBootstrapStore, readBack, shardConfig, shardDocument } from "./helpers.ts";

let server: TestEmbeddingServer;
let front: ScriptedEmbeddingServer;

beforeAll(async () => {
  server = await startTestEmbeddingServer("v2", { logLevel: "silent" });
  front = await startScriptedEmbeddingServer({ upstream: server.address });
});

afterAll(async () => {
  await front?.close();
  await server?.server.close();
});

const ids = ["job-0", "job-1", "poison", "job-2", "job-3"];
const titles = ["Nurse", "Pilot", "Poison", "Chef", "Welder"];

/** A file of five jobs (one titled Poison), a store, and a shard on them behind the scripted server. */
async function prepare(run: string) {
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-bootfail-"));
  const path = join(dir, "jobs.jsonl");
  writeFileSync(
    path,
    ids.map((id, index) => JSON.stringify({ id, title: titles[index], company: "Acme" })).join("\n") + "\n",
  );
  const target = await createBootstrapStore(run);
  const config = shardConfig(
    shardDocument({
      storeName: target.name,
      run,
      source: { files: { uris: [pathToFileURL(path).href] } },
      shards: { count: 1, index: 0 },
    }),
  );
  const embedding = connectEmbedding(
    { endpoint: front.address, timeoutMs: 60_000 },
    { modelDigest: server.digest, truncate: true },
  );
  const logged: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const runShard = (signal?: AbortSignal, registry?: Registry) =>
    runBootstrap(
      { ...config, model: { ...config.model, digest: server.digest } },
      {
        logger,
        embedCall: embedding.call,
        isRetryableEmbedError: embedding.isRetryable,
        ...(signal ? { signal } : {}),
        ...(registry ? { registry } : {}),
      },
    );
  return {
    target,
    logged,
    runShard,
    checkpoint: () =>
      new CheckpointStore(
        target.client,
        checkpointKey(`jude:${target.name}`, { namespace: "test", name: run }, 0),
        60,
      ).load(),
    close: async () => {
      embedding.close();
      await target.drop();
    },
  };
}

it("retries a passing INTERNAL, counts the entity of a text the server fails alone as failed (EMBEDDING_FAILED), writes the rest", async () => {
  const shard = await prepare("bootfail-poison");
  let passing = 2;
  front.fail = (texts) => {
    if (passing > 0) {
      passing--;
      return { code: status.INTERNAL, details: "backend hiccup" };
    }
    return texts.includes("Job: Poison at Acme")
      ? { code: status.INTERNAL, details: "inference failed", errorCode: "JUDE_SERVING_BACKEND_FAILED" }
      : undefined;
  };
  try {
    const outcome = await shard.runShard();
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ processed: 5, written: 4, failed: 1, embedded: 4 });
    // By code in the checkpoint, as the operator reads it for jude_bootstrap_dead_letters{code}.
    expect((await shard.checkpoint())?.failedCodes).toEqual({ EMBEDDING_FAILED: 1 });
    const stored = await readBack(shard.target.store, ids);
    expect([...stored.values()].map((each) => each.vector !== null)).toEqual([true, true, false, true, true]);
    const reasons = shard.logged.filter((line) => line["msg"] === "record not written");
    expect(reasons).toEqual([
      expect.objectContaining({ code: "EMBEDDING_FAILED", unit: "f0", id: "poison" }),
    ]);
    expect(reasons[0]!["reason"]).toBe(
      "the embedding server failed on this text alone, while it answered other calls: INTERNAL JUDE_SERVING_BACKEND_FAILED: inference failed",
    );
  } finally {
    front.fail = () => undefined;
    await shard.close();
  }
});

it("waits while the server fails every call, a probe too, reported; SIGTERM ends it interrupted with the checkpoint kept; the rerun writes everything", async () => {
  const shard = await prepare("bootfail-down");
  front.fail = () => ({
    code: status.INTERNAL,
    details: "backend failed",
    errorCode: "JUDE_SERVING_BACKEND_FAILED",
  });
  const abort = new AbortController();
  const registry = new Registry();
  try {
    const running = shard.runShard(abort.signal, registry);
    const waits = () => shard.logged.filter((line) => String(line["msg"]).includes("fails every call"));
    // The shard must still be running (waiting) when the server has failed every call for a while.
    const ended = running.then(() => {
      throw new Error("the shard ended while the server failed every call");
    });
    ended.catch(() => undefined);
    await Promise.race([
      until(() => waits().length > 0 && front.calls.filter((call) => call.includes(PROBE_TEXT)).length >= 3),
      ended,
    ]);
    expect(String(waits()[0]!["msg"])).toContain("INTERNAL JUDE_SERVING_BACKEND_FAILED: backend failed");
    const retries = (await registry.getSingleMetric("jude_pipeline_retries_total")!.get()).values.find(
      (each) => each.labels.dependency === "embedding",
    );
    expect(retries?.value).toBeGreaterThanOrEqual(3);
    // Once the wait has lasted a few seconds, the checkpoint (what the operator reads into the
    // BootstrapRun's Reconciling message; the shard opens no port) says the shard waits, and on what.
    let waiting: Awaited<ReturnType<typeof shard.checkpoint>> = null;
    while (waiting?.waiting === undefined) {
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 200)), ended]);
      waiting = await shard.checkpoint();
    }
    expect(waiting).toMatchObject({ phase: "running", counts: { written: 0, failed: 0 } });
    expect(waiting.waiting).toMatchObject({ dependency: "embedding" });
    expect(waiting.waiting!.error).toContain("INTERNAL JUDE_SERVING_BACKEND_FAILED: backend failed");
    abort.abort(); // SIGTERM
    const interrupted = await running;
    expect(interrupted.outcome).toBe("interrupted");
    const saved = await shard.checkpoint();
    expect(saved).toMatchObject({ phase: "interrupted", attempt: 1 });
    expect(saved!.waiting).toBeUndefined();
    expect(saved!.counts).toMatchObject({ written: 0, failed: 0 });
    expect(shard.logged.filter((line) => line["msg"] === "record not written")).toEqual([]);

    front.fail = () => undefined;
    const resumed = await shard.runShard();
    expect(resumed).toMatchObject({ outcome: "done", resumed: true });
    expect(resumed.state.counts).toMatchObject({ processed: 5, written: 5, failed: 0 });
    expect((await shard.checkpoint())!.waiting).toBeUndefined();
  } finally {
    front.fail = () => undefined;
    await shard.close();
  }
});

/** Polls `condition` every 20 ms (the test's own timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
