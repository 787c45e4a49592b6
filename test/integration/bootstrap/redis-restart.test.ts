/**
 * A shard rides out a Redis restart: Redis (a private server with an fsynced append-only file) is
 * SIGKILLed while the shard embeds and writes, and started again once the shard has noticed; the
 * batches and checkpoint saves in flight are retried and the shard ends done with the exact result.
 */
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { connectRedis, countVersion, openStore } from "../../../store/index.ts";
import { startOwnedRedis, type OwnedRedis } from "../store/redis-server.ts";
import { waitFor } from "./embedding-gate.ts";
import {
  jobDocument,
  readBack,
  renderJob,
  runShardInProcess,
  shardConfig,
  shardDocument,
} from "./helpers.ts";
import { startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";

const ENTITIES = 600;
const DISTINCT = 100;

describe("bootstrap across a Redis restart (private Redis, real model)", () => {
  let model: ServedEmbedder;
  let redis: OwnedRedis;
  beforeAll(async () => {
    model = await startServedEmbedder();
    redis = await startOwnedRedis();
    process.env.JUDE_BOOTSTRAP_TEST_REDIS_URL = redis.url;
  });
  afterAll(async () => {
    await redis?.destroy();
    await model?.close();
  });

  it("retries through the outage and ends with every entity written", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "bootstrap-redis-")), "jobs.jsonl");
    writeFileSync(
      path,
      Array.from({ length: ENTITIES }, (_, id) => JSON.stringify(jobDocument(id, DISTINCT))).join("\n"),
    );
    const config = shardConfig(
      shardDocument({
        storeName: "restart",
        store: { name: "restart", url: { env: "JUDE_BOOTSTRAP_TEST_REDIS_URL" } },
        run: "restart",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
        extra: { batching: { maxEntities: 40, inflightBatches: 2 } },
      }),
    );
    const registry = new Registry();
    const storeRetries = async () =>
      (await registry.getSingleMetric("jude_pipeline_retries_total")!.get()).values
        .filter((value) => value.labels.dependency === "store")
        .reduce((sum, value) => sum + value.value, 0);
    let calls = 0;
    let restarted: Promise<void> | undefined;
    const outcome = await runShardInProcess(
      config,
      async (texts, signal) => {
        if (++calls === 3) {
          await redis.kill();
          // Start it again once the shard has hit the outage and is retrying.
          restarted = waitFor(async () => (await storeRetries()) > 0, "a store retry").then(() =>
            redis.restart(),
          );
        }
        return model.embed(texts, signal);
      },
      undefined,
      registry,
    );
    await restarted;
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ written: ENTITIES, processed: ENTITIES });
    expect(await storeRetries()).toBeGreaterThan(0);

    const client = connectRedis({ url: redis.url });
    try {
      const store = await openStore(client, { name: "restart" });
      const ids = Array.from({ length: ENTITIES }, (_, id) => `job-${id}`);
      const stored = await readBack(store, ids);
      expect(
        ids.every(
          (id, index) => stored.get(id)!.meta?.contentHash === renderJob(jobDocument(index, DISTINCT)).hash,
        ),
      ).toBe(true);
      expect(await countVersion(store, "v2")).toMatchObject({ live: ENTITIES, texts: DISTINCT });
    } finally {
      await client.quit();
    }
  });
});
