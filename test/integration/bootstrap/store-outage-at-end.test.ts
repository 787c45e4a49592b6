/**
 * The last shard of a run loses its store right after saving its last checkpoint (phase done), before
 * it marks the version complete: the shard reaches the testbed's Redis through a link that, once the
 * store acknowledged that save, drops every connection and refuses new ones until the shard has
 * noticed. Like the batches and checkpoint saves, the end of the run rides the outage out: the shard
 * ends done and the version is complete (the gate promotion waits for), with no pod retry spent.
 * SIGTERM (the shard's abort) during that outage ends the shard promptly, interrupted (exit 75: the Job
 * runs it again, not counted against backoffLimit), its checkpoint still done; the rerun marks the
 * version complete. Not a wait until the pod's grace period ends in SIGKILL (exit 137, counted).
 * The same holds when the outage catches the done save itself (the shard reports, and the store keeps,
 * the checkpoint as last saved: not done) and when the store is unreachable as the shard starts (it
 * starts once the store is back; SIGTERM meanwhile ends it InterruptedBeforeStart, nothing saved, and
 * `jude bootstrap` exits 75). A failure no retry helps while marking the version complete fails the
 * shard but keeps its checkpoint done.
 */
import { createServer, connect, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { checkpointKey, readRunCheckpoints } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { InterruptedBeforeStart, type ShardOutcome } from "../../../pipelines/bootstrap/shard.ts";
import { getVersion } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startJude } from "../../support/processes.ts";
import { waitFor } from "./embedding-gate.ts";
import {
  createBootstrapStore,
  endsPromptly,
  jobDocument,
  runShardInProcess,
  shardConfig,
  shardDocument,
  VERSION,
} from "./helpers.ts";
import { startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";

const ENTITIES = 40;
/** How long a shard may take from its abort to its end: far below the pod's 30 s grace period. */
const PROMPT_MS = 5_000;
/** How long `jude bootstrap` may take from SIGTERM to its exit: below the pod's 30 s grace period. */
const GRACE_MS = 20_000;

/** The RESP bytes of the checkpoint field pair `phase done` (the save of a finished shard). */
const doneSave = Buffer.from("$5\r\nphase\r\n$4\r\ndone\r\n");

/**
 * How the link acts on the done save: `after-reply` cuts the store off right after it answered it;
 * `before-send` cuts it off as the save is sent (it never arrives); `refuse-next` passes the save and
 * answers the command after it with an error reply (a failure no retry helps), the store up. `down`:
 * the store is unreachable from the start, until `restore`, and the mode does not apply.
 */
type LinkMode = "after-reply" | "before-send" | "refuse-next";

/**
 * A TCP link to Redis that cuts the store off around the first command carrying `doneSave` (see
 * LinkMode): once cut, nothing sent arrives, every connection is dropped and new ones are refused
 * until `restore`.
 */
async function startCuttingLink(
  target: { host: string; port: number },
  mode: LinkMode = "after-reply",
  options: { down?: boolean } = {},
) {
  // Down from the start: that is the outage; the done save passes.
  let armed = options.down !== true;
  let down = options.down === true;
  let cut = down;
  const sockets = new Set<Socket>();
  const goDown = (keep?: Socket) => {
    down = true;
    cut = true;
    for (const socket of sockets) if (socket !== keep) socket.destroy();
  };
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    let tail = Buffer.alloc(0);
    let cutAfterReply = false;
    let refuseNext = false;
    client.on("data", (chunk: Buffer) => {
      if (down) return;
      if (refuseNext) {
        // The command after the done save: answered with an error, never sent to the store.
        refuseNext = false;
        client.write("-ERR injected by the test link\r\n");
        return;
      }
      if (armed) {
        const seen = Buffer.concat([tail, chunk]);
        if (seen.includes(doneSave)) {
          armed = false;
          if (mode === "before-send") {
            goDown();
            return;
          }
          cutAfterReply = true;
        }
        tail = seen.subarray(Math.max(0, seen.length - doneSave.length));
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (down) return;
      if (!cutAfterReply) {
        client.write(chunk);
        return;
      }
      if (mode === "refuse-next") {
        cutAfterReply = false;
        cut = true;
        refuseNext = true;
        client.write(chunk);
        return;
      }
      // The save's answer goes through; from here on the store is unreachable.
      client.end(chunk);
      goDown(client);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the link has no TCP address");
  return {
    url: `redis://127.0.0.1:${address.port}`,
    wasCut: () => cut,
    restore: () => {
      down = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("bootstrap whose store is unreachable right after its last checkpoint", () => {
  let model: ServedEmbedder;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    model = await startServedEmbedder();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await model?.close();
  });

  /** A fresh store, a link to it that cuts after the done save, and a one-shard config through it. */
  async function setUp(label: string, mode?: LinkMode, linkOptions?: { down?: boolean }) {
    const bootstrapStore = await createBootstrapStore(label);
    cleanups.push(() => bootstrapStore.drop());
    const redis = new URL(requireEnv("JUDE_REDIS_URL"));
    const link = await startCuttingLink(
      { host: redis.hostname, port: Number(redis.port || 6379) },
      mode,
      linkOptions,
    );
    cleanups.push(() => link.close());
    const urlEnv = `JUDE_BOOTSTRAP_OUTAGE_REDIS_URL_${label.replace(/\W/g, "_").toUpperCase()}`;
    process.env[urlEnv] = `${link.url}${redis.pathname}`;
    const path = join(mkdtempSync(join(tmpdir(), "bootstrap-outage-")), "jobs.jsonl");
    writeFileSync(
      path,
      Array.from({ length: ENTITIES }, (_, id) => JSON.stringify(jobDocument(id, ENTITIES))).join("\n"),
    );
    const document = shardDocument({
      storeName: bootstrapStore.name,
      store: { name: bootstrapStore.name, url: { env: urlEnv } },
      run: label,
      source: { files: { uris: [pathToFileURL(path).href] } },
      shards: { count: 1, index: 0 },
    });
    const config = shardConfig(document);
    const registry = new Registry();
    const storeRetries = async () =>
      (await registry.getSingleMetric("jude_pipeline_retries_total")?.get())?.values
        .filter((value) => value.labels.dependency === "store")
        .reduce((sum, value) => sum + value.value, 0) ?? 0;
    /** Runs the shard; resolves once the link cut the store off and the shard noticed (or it ended). */
    const start = (signal?: AbortSignal) => {
      let settled = false;
      const run = runShardInProcess(
        config,
        (texts, embedSignal) => model.embed(texts, embedSignal),
        signal,
        registry,
      );
      void run.finally(() => (settled = true)).catch(() => undefined);
      const noticed = waitFor(
        async () => settled || (link.wasCut() && (await storeRetries()) > 0),
        "the outage noticed",
      );
      return { run, noticed };
    };
    return { bootstrapStore, link, config, document, start };
  }

  it("ends done and marks the version complete once the store is back", async () => {
    const { bootstrapStore, link, start } = await setUp("outage-at-end");
    const { run, noticed } = start();
    // The store comes back once the shard has noticed it is gone (or the shard gave up).
    await noticed;
    link.restore();

    const outcome = await run;
    expect(link.wasCut()).toBe(true);
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ processed: ENTITIES, written: ENTITIES });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });

  it("ends interrupted at SIGTERM during the outage, its checkpoint done; the rerun marks the version complete", async () => {
    const { bootstrapStore, link, config, start } = await setUp("outage-at-end-term");
    const controller = new AbortController();
    const { run, noticed } = start(controller.signal);
    await noticed;
    expect(link.wasCut()).toBe(true);
    controller.abort();
    let outcome: ShardOutcome;
    try {
      outcome = await endsPromptly(PROMPT_MS, run);
    } finally {
      link.restore(); // a shard still retrying (the failure above) ends once the store is back
    }
    expect(outcome.outcome).toBe("interrupted");
    const [checkpoint] = await readRunCheckpoints(
      bootstrapStore.client,
      bootstrapStore.store.layout.prefix,
      config.run,
      1,
    );
    expect(checkpoint?.phase).toBe("done");

    const rerun = await runShardInProcess(config, (texts, signal) => model.embed(texts, signal));
    expect(rerun).toMatchObject({ outcome: "done", resumed: true });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });

  /** The run's only checkpoint, as stored. */
  async function storedCheckpoint(
    bootstrapStore: Awaited<ReturnType<typeof createBootstrapStore>>,
    config: Awaited<ReturnType<typeof setUp>>["config"],
  ) {
    const [checkpoint] = await readRunCheckpoints(
      bootstrapStore.client,
      bootstrapStore.store.layout.prefix,
      config.run,
      1,
    );
    return checkpoint;
  }

  it("ends interrupted at SIGTERM while its done save rides out the outage, its checkpoint not done", async () => {
    const { bootstrapStore, link, config, start } = await setUp("outage-at-save-term", "before-send");
    const controller = new AbortController();
    const { run, noticed } = start(controller.signal);
    await noticed;
    expect(link.wasCut()).toBe(true);
    controller.abort();
    let outcome: ShardOutcome;
    try {
      outcome = await endsPromptly(PROMPT_MS, run);
    } finally {
      link.restore();
    }
    // The done save never reached the store: the shard says interrupted, and reports what is saved.
    expect(outcome.outcome).toBe("interrupted");
    expect(outcome.state.phase).not.toBe("done");
    expect((await storedCheckpoint(bootstrapStore, config))?.phase).toBe("running");

    const rerun = await runShardInProcess(config, (texts, signal) => model.embed(texts, signal));
    expect(rerun).toMatchObject({ outcome: "done", resumed: true });
    expect(rerun.state.counts).toMatchObject({ processed: ENTITIES, written: ENTITIES });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });

  it("starts once the store is back when it is unreachable at the start", async () => {
    const { bootstrapStore, link, start } = await setUp("outage-at-start", "after-reply", { down: true });
    const { run, noticed } = start();
    await noticed;
    link.restore();
    const outcome = await run;
    expect(outcome).toMatchObject({ outcome: "done", resumed: false });
    expect(outcome.state.counts).toMatchObject({ processed: ENTITIES, written: ENTITIES });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });

  it("ends interrupted at SIGTERM while the store is unreachable at the start", async () => {
    const { bootstrapStore, link, config, start } = await setUp("outage-at-start-term", "after-reply", {
      down: true,
    });
    const controller = new AbortController();
    const { run, noticed } = start(controller.signal);
    await noticed;
    controller.abort();
    try {
      await expect(endsPromptly(PROMPT_MS, run)).rejects.toBeInstanceOf(InterruptedBeforeStart);
    } finally {
      link.restore();
    }
    // Nothing saved: the rerun starts the shard afresh and finishes it.
    expect(await storedCheckpoint(bootstrapStore, config)).toBeNull();
    const rerun = await runShardInProcess(config, (texts, signal) => model.embed(texts, signal));
    expect(rerun).toMatchObject({ outcome: "done" });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });

  it("exits 75 as a process when SIGTERM ends its wait for the store at the start, nothing counted", async () => {
    const { bootstrapStore, link, config, document } = await setUp("outage-at-start-exit", "after-reply", {
      down: true,
    });
    const configFile = join(mkdtempSync(join(tmpdir(), "bootstrap-outage-")), "config.json");
    writeFileSync(configFile, JSON.stringify(document));
    // `jude bootstrap` as the Job's pod runs it; its environment carries the link's URL (setUp).
    const shard = startJude(`bootstrap-${bootstrapStore.name}`, ["bootstrap", "--config", configFile]);
    // The log file is opened as the process starts: none yet reads as nothing logged.
    const log = () => (existsSync(shard.logFile) ? readFileSync(shard.logFile, "utf8") : "");
    try {
      let exitCode: number | null | undefined;
      void shard.exited.then((code) => (exitCode = code));
      await waitFor(
        () => exitCode !== undefined || log().includes("store unavailable; retrying"),
        "the shard to wait for the store, or exit",
      );
      expect(exitCode, log()).toBeUndefined();
      shard.child.kill("SIGTERM");
      // The shard ends at once (the tests above); the process may outlive it by the store's command
      // timeout (10 s), the timers of ioredis's connection handshakes to a link that drops them. Still
      // well before the pod's grace period (30 s) ends in SIGKILL: exit 137, counted against backoffLimit.
      const exit = await Promise.race([
        shard.exited,
        new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), GRACE_MS)),
      ]);
      if (exit === "still running") shard.child.kill("SIGKILL");
      // EX_TEMPFAIL: the Job runs the shard again, not counted against backoffLimit.
      expect(exit, log()).toBe(75);
      expect(log()).toContain("shard interrupted before it started");
    } finally {
      link.restore();
    }
    // Nothing begun or counted: no checkpoint, no pending counts, the version not even registered.
    expect(await storedCheckpoint(bootstrapStore, config)).toBeNull();
    expect(
      await bootstrapStore.client.exists(
        `${checkpointKey(bootstrapStore.store.layout.prefix, config.run, 0)}:pending`,
      ),
    ).toBe(0);
    expect(await getVersion(bootstrapStore.store, VERSION)).toBeNull();
    const rerun = await runShardInProcess(config, (texts, signal) => model.embed(texts, signal));
    expect(rerun).toMatchObject({ outcome: "done", resumed: false });
    expect(rerun.state.counts).toMatchObject({ processed: ENTITIES, written: ENTITIES });
  });

  it("keeps its done checkpoint when the final step fails for good", async () => {
    const { bootstrapStore, link, config, start } = await setUp("refused-at-end", "refuse-next");
    const { run } = start();
    await expect(run).rejects.toThrow(/injected by the test link/);
    expect(link.wasCut()).toBe(true);
    // The shard's work is saved as done; a rerun marks the version complete.
    expect((await storedCheckpoint(bootstrapStore, config))?.phase).toBe("done");
    const rerun = await runShardInProcess(config, (texts, signal) => model.embed(texts, signal));
    expect(rerun).toMatchObject({ outcome: "done", resumed: true });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });
});
