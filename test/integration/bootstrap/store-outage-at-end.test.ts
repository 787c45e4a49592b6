/**
 * The last shard of a run loses its store right after saving its last checkpoint (phase done), before
 * it marks the version complete: the shard reaches the testbed's Redis through a link that, once the
 * store acknowledged that save, drops every connection and refuses new ones until the shard has
 * noticed. Like the batches and checkpoint saves, the end of the run rides the outage out: the shard
 * ends done and the version is complete (the gate promotion waits for), with no pod retry spent.
 */
import { createServer, connect, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { getVersion } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { waitFor } from "./embedding-gate.ts";
import {
  createBootstrapStore,
  jobDocument,
  runShardInProcess,
  shardConfig,
  shardDocument,
  VERSION,
} from "./helpers.ts";
import { startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";

const ENTITIES = 40;

/** The RESP bytes of the checkpoint field pair `phase done` (the save of a finished shard). */
const doneSave = Buffer.from("$5\r\nphase\r\n$4\r\ndone\r\n");

/**
 * A TCP link to Redis that cuts the store off right after it answered the first command carrying
 * `doneSave`: that answer is delivered, nothing sent after it arrives, every connection is dropped
 * and new ones are refused until `restore`.
 */
async function startCuttingLink(target: { host: string; port: number }) {
  let armed = true;
  let down = false;
  let cut = false;
  const sockets = new Set<Socket>();
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
    client.on("data", (chunk: Buffer) => {
      if (down) return;
      if (armed) {
        const seen = Buffer.concat([tail, chunk]);
        if (seen.includes(doneSave)) {
          armed = false;
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
      // The save's answer goes through; from here on the store is unreachable.
      down = true;
      cut = true;
      client.end(chunk);
      for (const socket of sockets) if (socket !== client) socket.destroy();
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
  let bootstrapStore: Awaited<ReturnType<typeof createBootstrapStore>>;
  let link: Awaited<ReturnType<typeof startCuttingLink>>;
  beforeAll(async () => {
    model = await startServedEmbedder();
    bootstrapStore = await createBootstrapStore("outage-at-end");
    const redis = new URL(requireEnv("JUDE_REDIS_URL"));
    link = await startCuttingLink({ host: redis.hostname, port: Number(redis.port || 6379) });
    process.env.JUDE_BOOTSTRAP_OUTAGE_REDIS_URL = `${link.url}${redis.pathname}`;
  });
  afterAll(async () => {
    await link?.close();
    await bootstrapStore?.drop();
    await model?.close();
  });

  it("ends done and marks the version complete once the store is back", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "bootstrap-outage-")), "jobs.jsonl");
    writeFileSync(
      path,
      Array.from({ length: ENTITIES }, (_, id) => JSON.stringify(jobDocument(id, ENTITIES))).join("\n"),
    );
    const config = shardConfig(
      shardDocument({
        storeName: bootstrapStore.name,
        store: { name: bootstrapStore.name, url: { env: "JUDE_BOOTSTRAP_OUTAGE_REDIS_URL" } },
        run: "outage-at-end",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
      }),
    );
    const registry = new Registry();
    const storeRetries = async () =>
      (await registry.getSingleMetric("jude_pipeline_retries_total")?.get())?.values
        .filter((value) => value.labels.dependency === "store")
        .reduce((sum, value) => sum + value.value, 0) ?? 0;
    let settled = false;
    const run = runShardInProcess(config, (texts, signal) => model.embed(texts, signal), undefined, registry);
    void run.finally(() => (settled = true)).catch(() => undefined);
    // The store comes back once the shard has noticed it is gone (or the shard gave up).
    await waitFor(async () => settled || (link.wasCut() && (await storeRetries()) > 0), "the outage noticed");
    link.restore();

    const outcome = await run;
    expect(link.wasCut()).toBe(true);
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ processed: ENTITIES, written: ENTITIES });
    expect((await getVersion(bootstrapStore.store, VERSION))?.state).toBe("complete");
  });
});
