import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bootstrapConfigSchema, loadBootstrapConfig, resolveShardIndex } from "./config.ts";

const base = {
  run: { namespace: "jobs", name: "jobs-v2-bootstrap" },
  entity: "job",
  model: { version: "v2", digest: "sha256:abc", dimensions: 384, template: "{{title}}" },
  decode: { keyPath: "$.id" },
  extract: { title: "$.title" },
  embedding: { endpoint: "jobs-v2:50051" },
  store: { name: "jobs" },
  shards: { count: 4 },
};
const kafka = { kafka: { bootstrapServers: ["kafka:9092"], topic: "jobs.changelog" } };

describe("bootstrapConfigSchema", () => {
  it("fills defaults", () => {
    const config = bootstrapConfigSchema.parse({ ...base, source: kafka });
    expect(config.dedupe).toBe(true);
    expect(config.batching).toEqual({ maxEntities: 1024, inflightBatches: 2 });
    expect(config.textCache).toEqual({ leaseMs: 120_000, pollMs: 200, localEntries: 50_000 });
    expect(config.checkpoint.retainSeconds).toBe(604_800);
    expect(config.store.url).toEqual({ env: "JUDE_STORE_URL" });
  });

  it.each([
    [{ ...base, source: {} }, /set exactly one of kafka or files/],
    [{ ...base, source: { ...kafka, files: { uris: ["file:///a.jsonl"] } } }, /set exactly one/],
    [{ ...base, source: { files: { uris: ["s3://bucket/a.jsonl"] } } }, /file:\/\/\/ or https:\/\//],
    [{ ...base, decode: {}, source: { files: { uris: ["file:///a.jsonl"] } } }, /needs decode.keyPath/],
    [
      {
        ...base,
        source: kafka,
        scope: { eventTimeFrom: "2026-02-01T00:00:00Z", eventTimeTo: "2026-01-01T00:00:00Z" },
      },
      /eventTimeTo must be after eventTimeFrom/,
    ],
    [{ ...base, source: kafka, shards: { count: 0 } }, /count/],
    [{ ...base, source: kafka, surprise: true }, /surprise|unrecognized/i],
  ])("rejects invalid config %#", (document, message) => {
    const result = bootstrapConfigSchema.safeParse(document);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toMatch(message);
  });
});

describe("resolveShardIndex", () => {
  const config = bootstrapConfigSchema.parse({ ...base, source: kafka });

  it("takes the Indexed Job's completion index when the file has none", () => {
    expect(resolveShardIndex(config, { JOB_COMPLETION_INDEX: "3" }).shards).toEqual({ count: 4, index: 3 });
  });

  it("prefers an explicit index and refuses one outside the shard count", () => {
    const explicit = bootstrapConfigSchema.parse({ ...base, source: kafka, shards: { count: 4, index: 1 } });
    expect(resolveShardIndex(explicit, { JOB_COMPLETION_INDEX: "3" }).shards.index).toBe(1);
    expect(() => resolveShardIndex(config, { JOB_COMPLETION_INDEX: "4" })).toThrow("outside 0..3");
    expect(() => resolveShardIndex(config, {})).toThrow("JOB_COMPLETION_INDEX");
  });
});

describe("loadBootstrapConfig", () => {
  it("reads YAML and names the file and the field in errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-config-"));
    const good = join(dir, "good.yaml");
    writeFileSync(good, JSON.stringify({ ...base, source: kafka, shards: { count: 2, index: 1 } }));
    expect(loadBootstrapConfig(good, {}).source.kafka?.topic).toBe("jobs.changelog");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "entity: Job\n");
    expect(() => loadBootstrapConfig(bad, {})).toThrow(/bootstrap config .*bad\.yaml:\n(.|\n)*entity/);
  });
});
