/**
 * What a nearline batch does with each gRPC status the embedding server may answer, through the real
 * client (pipelines/embedding-client) talking to a real gRPC server whose answers the test scripts.
 */
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createRootLogger } from "../../plumbing/logger.ts";
import { memoryStore } from "../../test/support/memory-entity-store.ts";
import { useScriptedEmbedding, type ScriptedFailure } from "../../test/support/scripted-embedding-server.ts";
import { createPipelineMetrics } from "../shared/metrics.ts";
import { createNearlineEmbedding, PROBE_TEXT } from "./embedding-policy.ts";
import { createProcessor, type ConsumedRecord } from "./processor.ts";
import type { OutputRecord } from "./records.ts";

// A short deadline: a call the server never answers (a text that hangs it) ends in half a second.
const scripted = useScriptedEmbedding({ timeoutMs: 500 });

let offset = 0n;
function record(id: string, title: string): ConsumedRecord {
  return {
    topic: "jobs",
    partition: 0,
    offset: offset++,
    timestamp: 5_000_000,
    key: Buffer.from(id),
    value: Buffer.from(JSON.stringify({ id, time: 100, title })),
  };
}

/** A processor wired as the nearline app wires it, against the scripted server. */
function wire(signal?: AbortSignal) {
  const registry = new Registry();
  const metrics = createPipelineMetrics(registry);
  const labels = { pipeline: "ns/p", version: "v1" };
  const logger = createRootLogger({ component: "test", level: "silent" });
  const waits: string[] = [];
  const embedding = createNearlineEmbedding(
    scripted.connection.call,
    { maxBatchSize: 64, maxInflight: 2, isRetryable: scripted.connection.isRetryable, signal },
    { metrics, labels, logger, onRetry: (error) => waits.push((error as Error).message) },
  );
  scripted.server.hang = () => false;
  const store = memoryStore();
  const produced: OutputRecord[] = [];
  const process = createProcessor({
    entity: "job",
    modelVersion: "v1",
    modelDigest: scripted.server.digest,
    template: "Job: {{title}}",
    extract: { title: "$.title" },
    decode: { keyPath: "$.id", eventTimePath: "$.time" },
    changeDetection: true,
    outputTopic: "jobs.vectors",
    deadLetterTopic: "jobs.dlq",
    store,
    embed: (texts) => embedding.embedder.embed(texts),
    isRefusedInput: embedding.isRefusedInput,
    serverFailures: embedding.serverFailures,
    produce: async (records) => void produced.push(...records),
  });
  const deadLetters = () =>
    produced
      .filter((each) => each.topic === "jobs.dlq")
      .map((each) => ({
        key: String(each.key),
        code: each.headers["jude.error.code"],
        reason: each.headers["jude.error.reason"],
      }));
  return { process, store, produced, deadLetters, registry, waits };
}

const batch = () => [record("a", "Nurse"), record("b", "Poison"), record("c", "Pilot"), record("d", "Chef")];
const poisonText = "Job: Poison";

/** Fails the first `times` calls with `failure`, then answers. */
function failFirst(times: number, failure: ScriptedFailure): void {
  let left = times;
  scripted.server.fail = () => (left-- > 0 ? failure : undefined);
}

describe("nearline: embedding server answers by gRPC status", () => {
  it.each([
    ["UNAVAILABLE", { code: status.UNAVAILABLE, details: "server restarting" }],
    ["DEADLINE_EXCEEDED", { code: status.DEADLINE_EXCEEDED, details: "deadline" }],
    [
      "RESOURCE_EXHAUSTED (overloaded)",
      { code: status.RESOURCE_EXHAUSTED, details: "queue full", errorCode: "JUDE_SERVING_OVERLOADED" },
    ],
    ["INTERNAL (transient)", { code: status.INTERNAL, details: "backend failed" }],
    ["UNKNOWN (transient)", { code: status.UNKNOWN, details: "handler threw" }],
  ] as const)("%s: retried in-process, the batch is embedded whole", async (_name, failure) => {
    const { process, store, deadLetters } = wire();
    failFirst(2, failure);
    const outcome = await process(batch());
    expect(outcome).toMatchObject({ embedded: 4, deadLettered: 0 });
    expect(store.writes.map((write) => write.id)).toEqual(["a", "b", "c", "d"]);
    expect(deadLetters()).toEqual([]);
  });

  it("INVALID_ARGUMENT for one text: halved, only that event dead-lettered (EMBEDDING_REFUSED)", async () => {
    const { process, store, deadLetters } = wire();
    scripted.server.fail = (texts) =>
      texts.includes(poisonText) ? { code: status.INVALID_ARGUMENT, details: "not text" } : undefined;
    const outcome = await process(batch());
    expect(outcome).toMatchObject({ embedded: 3, deadLettered: 1 });
    expect(store.writes.map((write) => write.id)).toEqual(["a", "c", "d"]);
    expect(deadLetters()).toMatchObject([{ key: "b", code: "EMBEDDING_REFUSED" }]);
  });

  it.each([
    ["INTERNAL", status.INTERNAL],
    ["UNKNOWN", status.UNKNOWN],
  ] as const)(
    "%s for one text while the server answers others: only that event dead-lettered, the rest embedded",
    async (name, code) => {
      const { process, store, deadLetters } = wire();
      scripted.server.fail = (texts) =>
        texts.includes(poisonText)
          ? { code, details: "inference failed", errorCode: "JUDE_SERVING_BACKEND_FAILED" }
          : undefined;
      const outcome = await process(batch());
      expect(outcome).toMatchObject({ embedded: 3, deadLettered: 1 });
      expect(store.writes.map((write) => write.id)).toEqual(["a", "c", "d"]);
      const [dead] = deadLetters();
      expect(dead).toMatchObject({ key: "b", code: "EMBEDDING_FAILED" });
      expect(dead!.reason).toContain(`${name} JUDE_SERVING_BACKEND_FAILED: inference failed`);
    },
  );

  it("INTERNAL for every call, a probe too: nothing dead-lettered; the batch waits, reported, until the server is back", async () => {
    const { process, store, produced, waits, registry } = wire();
    scripted.server.fail = () => ({
      code: status.INTERNAL,
      details: "backend failed",
      errorCode: "JUDE_SERVING_BACKEND_FAILED",
    });
    const outcome = process(batch());
    await until(() => waits.filter((each) => each.includes("fails every call")).length >= 3);
    // Waiting: nothing produced, nothing stored, nothing dead-lettered; the probe was asked.
    expect(produced).toEqual([]);
    expect(store.writes).toEqual([]);
    expect(scripted.server.calls).toContainEqual([PROBE_TEXT]);
    expect(waits.at(-1)).toContain("INTERNAL JUDE_SERVING_BACKEND_FAILED: backend failed");
    scripted.server.fail = () => undefined;
    expect(await outcome).toMatchObject({ embedded: 4, deadLettered: 0 });
    expect(store.writes.map((write) => write.id)).toEqual(["a", "b", "c", "d"]);
    const errors = await registry.getSingleMetric("jude_pipeline_embedding_errors_total")!.get();
    expect(errors.values.find((each) => each.labels.status === "INTERNAL")?.value).toBeGreaterThan(3);
  });

  it("INTERNAL for every call: a drain that runs out of time ends the wait without isolating anything", async () => {
    const abort = new AbortController();
    const { process, store, produced, waits } = wire(abort.signal);
    scripted.server.fail = () => ({ code: status.INTERNAL, details: "backend failed" });
    const outcome = process(batch());
    await until(() => waits.some((each) => each.includes("fails every call")));
    abort.abort();
    await expect(outcome).rejects.toThrow();
    expect(produced).toEqual([]);
    expect(store.writes).toEqual([]);
  });

  it("INTERNAL for a batch of one text while the probe is answered: that event alone dead-lettered", async () => {
    const { process, store, deadLetters } = wire();
    scripted.server.fail = (texts) =>
      texts.includes(poisonText) ? { code: status.INTERNAL, details: "inference failed" } : undefined;
    const outcome = process([record("b", "Poison")]);
    expect(await outcome).toMatchObject({ embedded: 0, deadLettered: 1 });
    expect(store.writes).toEqual([]);
    expect(deadLetters()).toMatchObject([{ key: "b", code: "EMBEDDING_FAILED" }]);
  });

  it("a text that hangs the server (DEADLINE_EXCEEDED) while it answers others: only that event dead-lettered", async () => {
    const { process, store, deadLetters } = wire();
    scripted.server.hang = (texts) => texts.includes(poisonText);
    const outcome = await process(batch());
    expect(outcome).toMatchObject({ embedded: 3, deadLettered: 1 });
    expect(store.writes.map((write) => write.id)).toEqual(["a", "c", "d"]);
    const [dead] = deadLetters();
    expect(dead).toMatchObject({ key: "b", code: "EMBEDDING_FAILED" });
    expect(dead!.reason).toContain("DEADLINE_EXCEEDED");
  }, 30_000);

  it.each([
    ["DEADLINE_EXCEEDED (a slow server)", { code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }],
    ["UNAVAILABLE", { code: status.UNAVAILABLE, details: "server restarting" }],
    [
      "RESOURCE_EXHAUSTED (overloaded)",
      { code: status.RESOURCE_EXHAUSTED, details: "queue full", errorCode: "JUDE_SERVING_OVERLOADED" },
    ],
  ] as const)(
    "%s for every call, a probe too: nothing dead-lettered; the batch waits until the server answers",
    async (_name, failure) => {
      const { process, store, produced, waits } = wire();
      scripted.server.fail = () => failure;
      const outcome = process(batch());
      await until(() => waits.length >= 6);
      expect(produced).toEqual([]);
      expect(store.writes).toEqual([]);
      scripted.server.fail = () => undefined;
      expect(await outcome).toMatchObject({ embedded: 4, deadLettered: 0 });
      expect(store.writes.map((write) => write.id)).toEqual(["a", "b", "c", "d"]);
    },
  );

  it("a server that times out one text but fails the probe as well: nothing dead-lettered, the batch waits", async () => {
    const { process, store, produced, waits } = wire();
    let probes = 0;
    scripted.server.fail = (texts) => {
      if (texts.includes(PROBE_TEXT)) probes++;
      return texts.includes(PROBE_TEXT) || texts.includes(poisonText)
        ? { code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }
        : undefined;
    };
    const outcome = process(batch());
    await until(() => probes >= 3);
    expect(produced.filter((each) => each.topic === "jobs.dlq")).toEqual([]);
    expect(waits.some((each) => each.includes("fails every call"))).toBe(true);
    scripted.server.fail = () => undefined;
    expect(await outcome).toMatchObject({ embedded: 4, deadLettered: 0 });
    expect(store.writes.map((write) => write.id).sort()).toEqual(["a", "b", "c", "d"]);
  });

  it("a server failure the embedder does not classify (UNAUTHENTICATED) still fails the batch", async () => {
    const { process, store } = wire();
    scripted.server.fail = () => ({ code: status.UNAUTHENTICATED, details: "bad token" });
    await expect(process(batch())).rejects.toThrow("bad token");
    expect(store.writes).toEqual([]);
  });
});

/** Polls `condition` every 10 ms (the test's own timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
