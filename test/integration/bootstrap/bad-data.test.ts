/**
 * Bad snapshot data through the real embedding server (production client, truncating): a line that is
 * not JSON and one without the key field are counted as failed and logged with their reason and
 * position; a value above the server's message limit is embedded by its first tokens; the shard
 * finishes everything else.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createBootstrapStore, readBack, shardConfig, shardDocument } from "./helpers.ts";

describe("bootstrap with bad snapshot data (real Redis and embedding server)", () => {
  let server: TestEmbeddingServer;
  beforeAll(async () => {
    server = await startTestEmbeddingServer("v2", { logLevel: "silent" });
  });
  afterAll(async () => {
    await server?.server.close();
  });

  it("counts and logs undecodable rows, embeds a huge value, and writes everything else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-bad-"));
    const huge = "Engineer ".repeat(600_000); // 5.4 MB: above the server's 4 MiB message limit
    const lines = [
      JSON.stringify({ id: "job-1", title: "Nurse", company: "Acme" }),
      "{not json",
      JSON.stringify({ title: "No id", company: "Acme" }),
      JSON.stringify({ id: "job-2", title: huge, company: "Acme" }),
      JSON.stringify({ id: "job-3", title: "Pilot", company: "Acme" }),
    ];
    const path = join(dir, "bad.jsonl");
    writeFileSync(path, lines.join("\n") + "\n");
    const lineEnds = lines.map((_, index) =>
      lines.slice(0, index + 1).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0),
    );
    const target = await createBootstrapStore("bad");
    const logged: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const config = shardConfig(
      shardDocument({
        storeName: target.name,
        run: "bad",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
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
      expect(outcome.state.counts).toMatchObject({ processed: 5, written: 3, failed: 2 });
      const stored = await readBack(target.store, ["job-1", "job-2", "job-3"]);
      expect([...stored.values()].map((each) => each.vector !== null)).toEqual([true, true, true]);
      // The huge text is embedded by its first tokens, as the model's maxSequenceLength promises.
      const [firstTokens] = await embedding.call([`Job: ${"Engineer ".repeat(2_000).trim()} at Acme`]);
      expect(cosine(stored.get("job-2")!.vector!, firstTokens!)).toBeGreaterThan(0.9999);
      const reasons = logged.filter((line) => line["msg"] === "record not written");
      expect(reasons).toEqual([
        expect.objectContaining({ code: "INVALID_JSON", unit: "f0", lineEnd: lineEnds[1] }),
        expect.objectContaining({ code: "MISSING_ID", unit: "f0", lineEnd: lineEnds[2] }),
      ]);
      expect(reasons.every((line) => typeof line["reason"] === "string")).toBe(true);
    } finally {
      embedding.close();
      await target.drop();
    }
  });

  it("reads a file with a BOM and CRLF line ends, and counts non-UTF-8, null and lone-surrogate rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-bad-"));
    const path = join(dir, "crlf.jsonl");
    writeFileSync(
      path,
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(JSON.stringify({ id: "job-1", title: "Nurse", company: "Acme" }) + "\r\n"),
        Buffer.from([0x7b, 0xff, 0x7d, 0x0d, 0x0a]),
        Buffer.from("null\r\n\r\n"),
        Buffer.from('{"id":"job-2\\ud800","title":"Cook","company":"Acme"}\r\n'),
        Buffer.from(JSON.stringify({ id: "job:{3}", title: "Pilot", company: "Acme" })),
      ]),
    );
    const target = await createBootstrapStore("crlf");
    const config = shardConfig(
      shardDocument({
        storeName: target.name,
        run: "crlf",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
      }),
    );
    const embedding = connectEmbedding(
      { endpoint: server.address, timeoutMs: 60_000 },
      { modelDigest: server.digest, truncate: true },
    );
    try {
      const outcome = await runBootstrap(
        { ...config, model: { ...config.model, digest: server.digest } },
        {
          logger: pino({ level: "silent" }),
          embedCall: embedding.call,
          isRetryableEmbedError: embedding.isRetryable,
        },
      );
      expect(outcome.outcome).toBe("done");
      expect(outcome.state.counts).toMatchObject({ processed: 5, written: 2, failed: 3 });
      const stored = await readBack(target.store, ["job-1", "job:{3}"]);
      expect([...stored.values()].map((each) => each.vector !== null)).toEqual([true, true]);
    } finally {
      embedding.close();
      await target.drop();
    }
  });
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    dot += a[index]! * b[index]!;
    normA += a[index]! ** 2;
    normB += b[index]! ** 2;
  }
  return dot / Math.sqrt(normA * normB);
}
