/**
 * A bootstrap shard whose serving token is rotated: the real server has taken the new token while
 * the shard's file (laid out and rotated as the kubelet does a Secret volume) still holds the old
 * one. The shard's calls are refused until its file follows; it then finishes with every entity
 * written, instead of failing (and its Job retrying into the same refusals).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { metricSum } from "../../support/nearline-processes.ts";
import { refusedCalls, SecretVolume, untilServerAccepts } from "../../support/secret-volume.ts";
import { waitFor } from "../../testbed/wait.ts";
import { createBootstrapStore, jobDocument, readBack, shardConfig, shardDocument } from "./helpers.ts";

let server: TestEmbeddingServer;
const serverVolume = new SecretVolume("token-1");

beforeAll(async () => {
  server = await startTestEmbeddingServer("v2", {
    logLevel: "silent",
    auth: { tokenFile: serverVolume.tokenFile },
  });
});
afterAll(async () => {
  await server?.server.close();
});

it("a shard refused after the server's token changed waits for its own file to follow, then finishes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-tokenrot-"));
  const rows = Array.from({ length: 40 }, (_, i) => jobDocument(i, 40));
  const path = join(dir, "jobs.jsonl");
  writeFileSync(path, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");
  const target = await createBootstrapStore("tokenrot");
  const shardVolume = new SecretVolume("token-1");
  const config = shardConfig(
    shardDocument({
      storeName: target.name,
      run: "tokenrot",
      source: { files: { uris: [pathToFileURL(path).href] } },
      shards: { count: 1, index: 0 },
    }),
  );
  const embedding = connectEmbedding(
    { endpoint: server.address, timeoutMs: 60_000, token: { file: shardVolume.tokenFile } },
    { modelDigest: server.digest, truncate: true },
  );
  try {
    serverVolume.rotate("token-2");
    await untilServerAccepts(server.address, "token-2");
    const refusedBefore = await refusedCalls(server.server);
    let settled = false;
    const registry = new Registry();
    const run = runBootstrap(
      { ...config, model: { ...config.model, digest: server.digest } },
      {
        logger: silentLogger(),
        embedCall: embedding.call,
        isRetryableEmbedError: embedding.isRetryable,
        watchTokenRefusals: embedding.watchTokenRefusals,
        registry,
      },
    ).finally(() => (settled = true));
    run.catch(() => undefined);
    await waitFor(
      "the server refusing the shard's old token",
      async () => settled || (await refusedCalls(server.server)) > refusedBefore,
    );
    // Each refused try is counted as the shard's embedding error (what an alert on errors watches).
    await waitFor(
      "the refused calls counted",
      async () =>
        settled ||
        metricSum(
          await registry.metrics(),
          "jude_pipeline_embedding_errors_total",
          'status="UNAUTHENTICATED"',
        ) >= 1,
      { timeoutMs: 20_000 },
    );
    expect(
      metricSum(await registry.metrics(), "jude_pipeline_retries_total", 'dependency="embedding"'),
    ).toBeGreaterThan(0);
    // Refused, the shard neither failed nor went on without its batch.
    expect(settled).toBe(false);
    shardVolume.rotate("token-2");
    const outcome = await run;
    expect(outcome.outcome).toBe("done");
    expect(outcome.state.counts).toMatchObject({ processed: 40, written: 40, failed: 0 });
    const stored = await readBack(
      target.store,
      rows.map((row) => String(row.id)),
    );
    expect([...stored.values()].every((each) => each.vector !== null)).toBe(true);
  } finally {
    embedding.close();
    await target.drop();
  }
});
