/**
 * A shard run as the Job runs it (`node cli/jude.ts bootstrap --config …`) against the real embedding
 * server: SIGKILLed half-way and started again, it finishes with the exact result and embeds no text
 * twice (counted at the server boundary); SIGTERM makes it checkpoint and exit 75, never 0, also
 * when the embedding server, the store or Kafka does not answer (within the pod's grace period, not
 * after it).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckpointState } from "../../../pipelines/bootstrap/checkpoint-codec.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { countVersion, getTexts } from "../../../store/index.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import { createBootstrapStore, readBack, renderJob, shardDocument } from "./helpers.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { startEmbeddingGate, waitFor, type EmbeddingGate } from "./embedding-gate.ts";
import { startAdvertisingProxy, startTcpLink } from "../../support/tcp-link.ts";

const ENTITIES = 1200;
const DISTINCT = ENTITIES / 6;
// Six consecutive entities share a text, so new texts keep arriving all through the run.
const documentOf = (id: number) => ({
  id: `job-${id}`,
  title: `Role ${Math.floor(id / 6)}`,
  company: "Acme",
});

interface RunningShard {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** The checkpoint once two reads 300 ms apart agree (a commit in progress has landed). */
async function settledCheckpoint(checkpoints: CheckpointStore): Promise<CheckpointState> {
  let previous = JSON.stringify(await checkpoints.load());
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const current = await checkpoints.load();
    if (JSON.stringify(current) === previous) return current!;
    previous = JSON.stringify(current);
  }
}

function startShard(configPath: string, env: NodeJS.ProcessEnv = {}): RunningShard {
  const child = spawn(process.execPath, ["cli/jude.ts", "bootstrap", "--config", configPath], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output };
}

describe("bootstrap shard process (real Kafka, Redis and embedding server)", () => {
  let server: TestEmbeddingServer;
  let gate: EmbeddingGate;
  let topic: string;
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-resume-"));

  beforeAll(async () => {
    server = await startTestEmbeddingServer("v2", { logLevel: "silent" });
    gate = await startEmbeddingGate(server.address);
    topic = uniqueTopic("bootstrap-resume");
    await createTopics([topic], 2);
    await produceEvents(
      topic,
      Array.from({ length: ENTITIES }, (_, id) => ({ key: `job-${id}`, value: documentOf(id) })),
    );
  });
  afterAll(async () => {
    await gate?.close();
    await server?.server.close();
  });

  function writeConfig(
    storeName: string,
    run: string,
    through: { storeUrlEnv?: string; kafkaBroker?: string } = {},
  ): string {
    const document = shardDocument({
      storeName,
      ...(through.storeUrlEnv !== undefined
        ? { store: { name: storeName, url: { env: through.storeUrlEnv } } }
        : {}),
      run,
      source: {
        kafka: { bootstrapServers: [through.kafkaBroker ?? requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic },
      },
      shards: { count: 1, index: 0 },
      extra: { batching: { maxEntities: 60, inflightBatches: 2 }, checkpoint: { progressIntervalMs: 200 } },
    });
    const path = join(
      dir,
      `${run}${through.storeUrlEnv !== undefined || through.kafkaBroker !== undefined ? "-linked" : ""}.json`,
    );
    writeFileSync(
      path,
      JSON.stringify({
        ...document,
        model: { ...(document.model as object), digest: server.digest },
        embedding: { endpoint: gate.address, maxBatchSize: 8, maxInflight: 2 },
      }),
    );
    return path;
  }

  it("resumes after SIGKILL with the exact result and no text embedded twice", async () => {
    const target = await createBootstrapStore("kill");
    try {
      const configPath = writeConfig(target.name, "kill");
      const checkpoints = new CheckpointStore(
        target.client,
        checkpointKey(`jude:${target.name}`, { namespace: "test", name: "kill" }, 0),
        60,
      );
      const answeredBefore = gate.answeredTexts();

      // Hold embedding calls from a quarter of the texts on, then let the shard go one call at a time.
      // Kill when it waits on a held call with every answered text in the store's text cache, so the
      // only work lost is work not finished (what a restart must redo, and nothing else), and some of
      // those texts belong to a batch not checkpointed yet (their counts are what a kill can lose).
      // Stepping one call at a time reaches that: a released call's batch cannot be checkpointed
      // while its other call is held.
      gate.pauseAfter(answeredBefore + DISTINCT / 4);
      const first = startShard(configPath);
      let uncheckpointed = 0;
      for (let step = 0; ; step++) {
        expect(step, "a pause with answered texts of an unfinished batch").toBeLessThan(DISTINCT / 8);
        await waitFor(
          async () =>
            gate.held() > 0 &&
            gate.outstanding() === 0 &&
            (await countVersion(target.store, "v2")).texts === gate.answeredTexts() - answeredBefore,
          "the shard to wait on a held call with every answered text stored",
        );
        const settled = await settledCheckpoint(checkpoints);
        uncheckpointed = gate.answeredTexts() - answeredBefore - settled.counts.embedded;
        if (uncheckpointed > 0) break;
        gate.releaseOne();
      }
      first.child.kill("SIGKILL");
      expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
      const killed = await checkpoints.load();
      expect(killed).toMatchObject({ phase: "running", attempt: 1 });
      expect(killed!.counts.written).toBeGreaterThan(0);
      expect(killed!.counts.written).toBeLessThan(ENTITIES);
      const embeddedBeforeKill = gate.answeredTexts() - answeredBefore;
      expect(embeddedBeforeKill).toBeGreaterThan(0);
      expect(embeddedBeforeKill).toBeLessThan(DISTINCT);
      expect(killed!.counts.embedded).toBeLessThanOrEqual(embeddedBeforeKill);
      gate.resume();

      const second = startShard(configPath);
      const exit = await second.exited;
      expect(exit, second.output.join("")).toEqual({ code: 0, signal: null });
      const done = await checkpoints.load();
      expect(done).toMatchObject({ phase: "done", attempt: 2 });
      // Every offset up to the watermarks (the test producer may repeat records; keys are what count).
      const offsets = done!.watermarks!.partitions.reduce((sum, each) => sum + each.offset, 0);
      expect(done!.counts.processed).toBe(offsets);
      // Entities written after the last checkpoint before the kill are re-applied at their stored
      // position, which the newer-wins rule counts as stale: each entity is written or stale, once.
      expect(done!.counts.written + done!.counts.stale).toBe(ENTITIES);
      // Nothing finished before the kill was embedded again.
      expect(gate.answeredTexts() - answeredBefore).toBe(DISTINCT);
      // `embedded` counts every text the shard embedded, the killed attempt's included (README,
      // "Checkpoint"), so it equals what the server answered. The killed batches' entities got their
      // vectors from the text cache on the rerun, so they count as deduplicated.
      expect(done!.counts.embedded).toBe(DISTINCT);
      expect(done!.counts.deduplicated).toBe(done!.counts.written - DISTINCT + uncheckpointed);
      // Exact result: every entity holds the vector of its own text.
      const ids = Array.from({ length: ENTITIES }, (_, id) => `job-${id}`);
      const stored = await readBack(target.store, ids);
      const hashes = ids.map((_, id) => renderJob(documentOf(id)).hash);
      const cached = await getTexts(target.store, "v2", hashes);
      ids.forEach((id, index) => {
        const { meta, vector } = stored.get(id)!;
        expect(meta?.contentHash).toBe(hashes[index]);
        expect(Array.from(vector!)).toEqual(Array.from(cached.get(hashes[index]!)!.vector));
      });
      expect(await countVersion(target.store, "v2")).toMatchObject({ live: ENTITIES, texts: DISTINCT });
      expect(second.output.join("")).toMatch(/"msg":"bootstrap progress"/);
    } finally {
      gate.resume();
      await target.drop();
    }
  });

  it("checkpoints and exits 75 on SIGTERM, then finishes on the next run", async () => {
    const target = await createBootstrapStore("term");
    try {
      const configPath = writeConfig(target.name, "term");
      const checkpoints = new CheckpointStore(
        target.client,
        checkpointKey(`jude:${target.name}`, { namespace: "test", name: "term" }, 0),
        60,
      );
      const first = startShard(configPath);
      await waitFor(async () => ((await checkpoints.load())?.counts.written ?? 0) > 0, "some progress");
      first.child.kill("SIGTERM");
      expect(await first.exited).toEqual({ code: 75, signal: null });
      const stopped = await checkpoints.load();
      expect(stopped?.phase).toBe("interrupted");
      expect(stopped!.counts.written).toBeLessThan(ENTITIES);

      const second = startShard(configPath);
      expect((await second.exited).code, second.output.join("")).toBe(0);
      expect((await checkpoints.load())?.counts).toMatchObject({ written: ENTITIES });
    } finally {
      await target.drop();
    }
  });

  it("exits 75 well within the grace period on SIGTERM while the embedding server does not answer", async () => {
    const target = await createBootstrapStore("term-hung");
    try {
      const configPath = writeConfig(target.name, "term-hung");
      const checkpoints = new CheckpointStore(
        target.client,
        checkpointKey(`jude:${target.name}`, { namespace: "test", name: "term-hung" }, 0),
        60,
      );
      const answeredBefore = gate.answeredTexts();
      // From a quarter of the texts on the server takes calls and never answers (the gate holds them).
      gate.pauseAfter(answeredBefore + DISTINCT / 4);
      const first = startShard(configPath);
      await waitFor(
        async () =>
          gate.held() > 0 &&
          gate.outstanding() === 0 &&
          (await countVersion(target.store, "v2")).texts === gate.answeredTexts() - answeredBefore,
        "the shard to wait on a call the server does not answer",
      );
      first.child.kill("SIGTERM");
      // The pod's grace period is 30 s; the shard must checkpoint and exit well before the SIGKILL.
      const exit = await Promise.race([
        first.exited,
        new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 10_000)),
      ]);
      if (exit === "still running") first.child.kill("SIGKILL");
      expect(exit, first.output.join("")).toEqual({ code: 75, signal: null });
      const stopped = await checkpoints.load();
      expect(stopped).toMatchObject({ phase: "interrupted", attempt: 1 });
      const embeddedBeforeTerm = gate.answeredTexts() - answeredBefore;
      expect(stopped!.counts.embedded).toBe(embeddedBeforeTerm);
      gate.resume();

      const second = startShard(configPath);
      expect((await second.exited).code, second.output.join("")).toBe(0);
      const done = await checkpoints.load();
      expect(done!.counts.written + done!.counts.stale).toBe(ENTITIES);
      // Nothing embedded before the SIGTERM was embedded again.
      expect(gate.answeredTexts() - answeredBefore).toBe(DISTINCT);
      expect(done!.counts.embedded).toBe(DISTINCT);
    } finally {
      gate.resume();
      await target.drop();
    }
  });

  /**
   * SIGTERM while a dependency hangs with its connections open (a frozen link: a partition, a stalled
   * host): the shard must still exit 75 well within the pod's 30 s grace period (SIGKILL is exit 137,
   * counted against backoffLimit), its checkpoint as last saved when the store hangs (it cannot take
   * the `interrupted` save) or `interrupted` when Kafka does, and the rerun must finish the exact result.
   * "store write": the store hangs on a batch's write, which the writer would retry (each attempt
   * failing at once on the dropped connection) for its whole retry deadline (60 s) had the abort not
   * stopped its retries. "kafka fetch": a read's Fetch request hangs; the abandoned request must not
   * keep the process alive.
   */
  it.each(["store", "store write", "kafka", "kafka fetch"] as const)(
    "exits 75 within the grace period on SIGTERM while the %s hangs, and the rerun finishes",
    async (hung) => {
      const label = hung.replace(" ", "-");
      const target = await createBootstrapStore(`term-${label}-hang`);
      const run = `term-${label}-hang`;
      const redis = new URL(requireEnv("JUDE_REDIS_URL"));
      const [kafkaHost, kafkaPort] = requireEnv("JUDE_KAFKA_BOOTSTRAP").split(":");
      let linkPort = 0;
      const proxy =
        hung === "kafka" || hung === "kafka fetch"
          ? await startAdvertisingProxy({ host: kafkaHost!, port: Number(kafkaPort) }, () => linkPort)
          : undefined;
      const link = await startTcpLink(
        proxy !== undefined
          ? { host: "127.0.0.1", port: proxy.port }
          : { host: redis.hostname, port: Number(redis.port || 6379) },
      );
      linkPort = link.port;
      const storeUrlEnv = "JUDE_BOOTSTRAP_LINKED_REDIS_URL";
      try {
        const linked = writeConfig(
          target.name,
          run,
          hung.startsWith("kafka") ? { kafkaBroker: `127.0.0.1:${link.port}` } : { storeUrlEnv },
        );
        const checkpoints = new CheckpointStore(
          target.client,
          checkpointKey(`jude:${target.name}`, { namespace: "test", name: run }, 0),
          60,
        );
        const first = startShard(linked, {
          [storeUrlEnv]: `redis://127.0.0.1:${link.port}${redis.pathname}`,
        });
        if (hung === "store") {
          // Mid-run: batches in flight and the `interrupted` save wait on the store.
          await waitFor(async () => ((await checkpoints.load())?.counts.written ?? 0) > 0, "some progress");
          link.freeze();
        } else if (hung === "store write") {
          // Mid-run, the next batch's write held back (its pipeline: the write script's arguments name
          // the record's data key and, for an upsert, the op L).
          await waitFor(async () => ((await checkpoints.load())?.counts.written ?? 0) > 0, "some progress");
          await link.freezeOn((chunk) => chunk.includes(":d\r\n") && chunk.includes("\r\n$1\r\nL\r\n"));
        } else if (hung === "kafka fetch") {
          // Its first Fetch request unanswered (a Kafka request: int32 size, int16 API key; Fetch is 1).
          await link.freezeOn((chunk) => chunk.length >= 6 && chunk.readInt16BE(4) === 1);
        } else {
          // As it lays out its partitions: its checkpoint begun, its first Kafka request unanswered (the
          // records come in few fetches, so one in flight is hard to catch later on).
          link.freeze();
          await waitFor(
            async () => link.accepted() > 0 && (await checkpoints.load()) !== null,
            "the shard to begin its checkpoint and ask Kafka",
          );
        }
        first.child.kill("SIGTERM");
        // Before the store had a deadline at SIGTERM, each store step waited out its command timeout
        // (10 s) in turn and the process outlived 25 s; a Kafka request, its 30 s request timeout.
        const exit = await Promise.race([
          first.exited,
          new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 15_000)),
        ]);
        if (exit === "still running") first.child.kill("SIGKILL");
        expect(exit, first.output.join("")).toEqual({ code: 75, signal: null });
        const stopped = await checkpoints.load();
        // A store that hangs takes no `interrupted` save: the checkpoint is the last one saved, which the
        // rerun resumes from.
        expect(stopped).toMatchObject({
          phase: hung.startsWith("kafka") ? "interrupted" : "running",
          attempt: 1,
        });
        expect(stopped!.counts.written).toBeLessThan(ENTITIES);
        // What the frozen link holds never arrives (the old pod's connections are gone).
        await link.close();

        const second = startShard(writeConfig(target.name, run));
        expect((await second.exited).code, second.output.join("")).toBe(0);
        const done = await checkpoints.load();
        expect(done!.counts.written + done!.counts.stale).toBe(ENTITIES);
        expect(await countVersion(target.store, "v2")).toMatchObject({ live: ENTITIES, texts: DISTINCT });
      } finally {
        await link.close();
        await proxy?.close();
        await target.drop();
      }
    },
  );
});
