/**
 * A text the embedding server refuses for what it is never fails a bootstrap shard. A real `jude serve`
 * that takes at most 2 inputs per call and 16 KiB per message (smaller than the shard's requests): a
 * whole request is refused (TOO_MANY_INPUTS, INVALID_ARGUMENT), so it is halved until the calls fit; a
 * 20 KB text is refused alone (RESOURCE_EXHAUSTED, message too large), so its entities are counted
 * `failed` and logged with code EMBEDDING_REFUSED and the server's reason, as bootstrap reports its
 * other bad records, and the rest of the shard is written. Before, the refusal (never retried) failed
 * the shard, and every rerun failed on the same row: the run could never succeed.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createBootstrapStore, readBack, shardConfig, shardDocument } from "./helpers.ts";

let server: TestEmbeddingServer;

beforeAll(async () => {
  server = await startTestEmbeddingServer("v2", {
    logLevel: "silent",
    limits: { maxInputsPerCall: 2, maxMessageBytes: 16 * 1024 },
  });
});

afterAll(async () => {
  await server?.server.close();
});

it.each([true, false])(
  "dedupe %s: halves a request the server refuses, counts the entities of the text it refuses alone as failed, and writes the rest",
  async (dedupe) => {
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-refused-"));
    const huge = "x ".repeat(10_000);
    const good = ["Nurse", "Pilot", "Chef", "Welder"].map((title, index) => ({
      id: `job-${index}`,
      title,
      company: "Acme",
    }));
    // Two entities with the same refused text: deduplicated, then both reported.
    const rows = [good[0], good[1], { id: "huge-1", title: huge, company: "Acme" }, good[2], good[3]];
    rows.push({ id: "huge-2", title: huge, company: "Acme" });
    const path = join(dir, "refused.jsonl");
    writeFileSync(path, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");
    const target = await createBootstrapStore("refused");
    const logged: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const config = shardConfig(
      shardDocument({
        storeName: target.name,
        run: "refused",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
        extra: { dedupe },
      }),
    );
    const embedding = connectEmbedding(
      { endpoint: server.address, timeoutMs: 60_000 },
      { modelDigest: server.digest, truncate: true },
    );
    try {
      const outcome = await runBootstrap(
        { ...config, model: { ...config.model, digest: server.digest } },
        { logger, embedCall: embedding.call, isRetryableEmbedError: embedding.isRetryable },
      );
      expect(outcome.outcome).toBe("done");
      expect(outcome.state.counts).toMatchObject({ processed: 6, written: 4, failed: 2, embedded: 4 });
      const stored = await readBack(target.store, ["job-0", "job-1", "job-2", "job-3", "huge-1", "huge-2"]);
      expect([...stored.values()].map((each) => each.vector !== null)).toEqual([
        true,
        true,
        true,
        true,
        false,
        false,
      ]);
      const reasons = logged.filter((line) => line["msg"] === "record not written");
      expect(reasons).toEqual([
        expect.objectContaining({ code: "EMBEDDING_REFUSED", unit: "f0", id: "huge-1" }),
        expect.objectContaining({ code: "EMBEDDING_REFUSED", unit: "f0", id: "huge-2" }),
      ]);
      for (const line of reasons)
        expect(line["reason"]).toMatch(
          /^the embedding server refused its text: Received message larger than max/,
        );
    } finally {
      embedding.close();
      await target.drop();
    }
  },
);
