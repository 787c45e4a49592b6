/**
 * What a bootstrap shard's embedding does when the server fails a call itself (gRPC INTERNAL or
 * UNKNOWN), through the real client talking to a real gRPC server whose answers the test scripts, wired
 * as the shard wires it (`createTextVectors`): the nearline policy (`embedIsolatingRefusals` with
 * `serverFailures`). A passing failure is retried; a text the server fails alone while it answers a
 * probe comes back `failed` with the server's status and message (the shard counts its entities failed,
 * EMBEDDING_FAILED) instead of failing the batch, and so the shard and, after every retry of the Job,
 * the whole run; while the server fails every call, the batch waits, reported, until it answers again
 * or the abort (SIGTERM) ends the wait.
 */
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Store } from "../../store/index.ts";
import { useScriptedEmbedding } from "../../test/support/scripted-embedding-server.ts";
import { PROBE_TEXT } from "../shared/embedding.ts";
import { createPipelineMetrics } from "../shared/metrics.ts";
import { createTextVectors } from "./app.ts";
import type { BootstrapConfig } from "./config.ts";

// A short deadline: a call the server never answers (a text that hangs it) ends in half a second.
const scripted = useScriptedEmbedding({ timeoutMs: 500 });

/** Without dedupe the text cache (the store) is never asked, so no store is needed. */
const config = {
  run: { namespace: "ns", name: "bootfail" },
  shards: { count: 1, index: 0 },
  model: { version: "v2", digest: "sha256:scripted" },
  store: { dtype: "float32" },
  dedupe: false,
  textCache: { leaseMs: 120_000, pollMs: 100, localEntries: 0 },
  embedding: { maxBatchSize: 64, maxInflight: 2 },
} as unknown as BootstrapConfig;

function wire(signal?: AbortSignal) {
  scripted.server.hang = () => false;
  const registry = new Registry();
  const metrics = createPipelineMetrics(registry);
  const warnings: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const vectors = createTextVectors(
    config,
    {
      logger,
      embedCall: scripted.connection.call,
      isRetryableEmbedError: scripted.connection.isRetryable,
      ...(signal ? { signal } : {}),
    },
    {} as Store,
    { onEmbedded: async () => undefined },
    { metrics, labels: { pipeline: "ns/bootfail", version: "v2" }, logger },
  );
  const retries = async () =>
    (await registry.getSingleMetric("jude_pipeline_retries_total")!.get()).values.find(
      (each) => each.labels.dependency === "embedding",
    )?.value ?? 0;
  return { vectors, warnings, retries };
}

const texts = ["Job: Nurse", "Job: Poison", "Job: Pilot", "Job: Chef"].map((text) => ({
  text,
  hash: `hash-${text}`,
}));
const poison = "Job: Poison";

describe("bootstrap: the embedding server failing a call itself", () => {
  it.each([
    ["INTERNAL", status.INTERNAL],
    ["UNKNOWN", status.UNKNOWN],
  ] as const)("%s that passes: retried, every text embedded", async (_name, code) => {
    const { vectors } = wire();
    let left = 2;
    scripted.server.fail = () => (left-- > 0 ? { code, details: "backend failed" } : undefined);
    const result = await vectors.vectorsFor(texts);
    expect(result.vectors.every((each) => each instanceof Float32Array)).toBe(true);
    expect(result.failed).toEqual(new Map());
  });

  it.each([
    ["INTERNAL", status.INTERNAL],
    ["UNKNOWN", status.UNKNOWN],
  ] as const)(
    "%s for one text while the server answers a probe: that text alone comes back failed, with the server's reason",
    async (name, code) => {
      const { vectors } = wire();
      scripted.server.fail = (batch) =>
        batch.includes(poison)
          ? { code, details: "inference failed", errorCode: "JUDE_SERVING_BACKEND_FAILED" }
          : undefined;
      const result = await vectors.vectorsFor(texts);
      expect(result.vectors.map((each) => each !== undefined)).toEqual([true, false, true, true]);
      expect([...result.failed.keys()]).toEqual([`hash-${poison}`]);
      expect(result.failed.get(`hash-${poison}`)).toContain(
        `${name} JUDE_SERVING_BACKEND_FAILED: inference failed`,
      );
      expect(result.refused).toEqual(new Map());
      expect(result.embedded).toBe(3);
    },
  );

  it("a text that hangs the server (DEADLINE_EXCEEDED on every call) while it answers a probe: that text alone comes back failed", async () => {
    const { vectors } = wire();
    scripted.server.fail = () => undefined;
    scripted.server.hang = (batch) => batch.includes(poison);
    const result = await vectors.vectorsFor(texts);
    expect(result.vectors.map((each) => each !== undefined)).toEqual([true, false, true, true]);
    expect([...result.failed.keys()]).toEqual([`hash-${poison}`]);
    expect(result.failed.get(`hash-${poison}`)).toContain("DEADLINE_EXCEEDED");
    expect(result.embedded).toBe(3);
  }, 30_000);

  it("DEADLINE_EXCEEDED for every call, a probe too (a slow server): nothing failed; the batch waits until the server answers", async () => {
    const { vectors } = wire();
    let probes = 0;
    scripted.server.fail = (batch) => {
      if (batch.includes(PROBE_TEXT)) probes++;
      return probes < 3 ? { code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" } : undefined;
    };
    const result = await vectors.vectorsFor(texts);
    expect(probes).toBe(3);
    expect(result.vectors.every((each) => each instanceof Float32Array)).toBe(true);
    expect(result.failed).toEqual(new Map());
  });

  it("INTERNAL for every call, a probe too: nothing failed; the batch waits, reported, until the server answers", async () => {
    const { vectors, warnings, retries } = wire();
    let probes = 0;
    scripted.server.fail = (batch) => {
      if (batch.includes(PROBE_TEXT)) probes++;
      return probes < 3
        ? { code: status.INTERNAL, details: "backend failed", errorCode: "JUDE_SERVING_BACKEND_FAILED" }
        : undefined;
    };
    const result = await vectors.vectorsFor(texts);
    expect(probes).toBe(3);
    expect(result.vectors.every((each) => each instanceof Float32Array)).toBe(true);
    expect(result.failed).toEqual(new Map());
    const waits = warnings.filter((line) => String(line["msg"]).includes("fails every call"));
    expect(waits.length).toBeGreaterThan(0);
    expect(String(waits[0]!["msg"])).toContain("INTERNAL JUDE_SERVING_BACKEND_FAILED: backend failed");
    expect(await retries()).toBeGreaterThanOrEqual(2);
  });

  it("INTERNAL for every call: the abort (SIGTERM) ends the wait with its reason, nothing failed", async () => {
    const abort = new AbortController();
    const { vectors } = wire(abort.signal);
    scripted.server.fail = (batch) => {
      if (batch.includes(PROBE_TEXT)) abort.abort(new Error("SIGTERM"));
      return { code: status.INTERNAL, details: "backend failed" };
    };
    const error: unknown = await vectors.vectorsFor(texts).then(
      () => undefined,
      (error: unknown) => error,
    );
    // What the shard takes for the abort cutting a batch short (shard.ts, cutShortByAbort): the batch
    // stays out of the checkpoint and the shard ends `interrupted`.
    expect(error === abort.signal.reason || (error as Error).name === "AbortError").toBe(true);
  });
});
