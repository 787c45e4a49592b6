/**
 * What the nearline worker makes of correct input, on real Kafka, Redis and the real embedding server:
 * per-key ordering by event time when change detection skips an update, delete-then-upsert of one key
 * in one batch, dead letters that keep the original record (headers included) so it can be fixed and
 * replayed, and counts that say what happened.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NearlineApp } from "../../../pipelines/nearline/app.ts";
import type { Store } from "../../../store/index.ts";
import { produceEvents, readAll, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  startInProcessPipeline,
  type InProcessPipeline,
} from "../../support/nearline.ts";
import { schemaValid } from "../../support/nearline-sinks.ts";
import { workerMetric } from "../../support/nearline-processes.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "minilm-v1";

describe("nearline data semantics", () => {
  let pipeline: InProcessPipeline;
  let app: NearlineApp;
  let store: Store;
  const topic = uniqueTopic("nl-sem-src");
  const outputTopic = uniqueTopic("nl-sem-out");
  const deadLetterTopic = uniqueTopic("nl-sem-dlq");
  const produced: TestEvent[] = [];

  /** Produces `events` and waits until the worker committed them (one batch when they arrive together). */
  async function send(events: TestEvent[]): Promise<void> {
    produced.push(...events);
    const target = app.worker.totals.consumed + events.length;
    await produceEvents(topic, events);
    await waitFor(`the worker to consume ${target} events`, () => app.worker.totals.consumed >= target, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
  }

  beforeAll(async () => {
    pipeline = await startInProcessPipeline({ version, topic, outputTopic, deadLetterTopic });
    ({ app, store } = pipeline);
  });
  afterAll(() => pipeline?.stop());

  it("keeps the newest event's text when a late event follows an update that changed nothing", async () => {
    const nurse = { title: "Registered Nurse", company: "Umbrella Health", skills: ["ICU"] };
    await send([jobEvent("late-1", 1000, nurse), jobEvent("late-2", 1000, nurse)]);
    // late-1: the update at 3000 renders the same text (only a field outside the prompt changed) and
    // is skipped as unchanged; the event of 2000 arrives after it, in another batch.
    await send([jobEvent("late-1", 3000, { ...nurse, views: 7 })]);
    await send([jobEvent("late-1", 2000, { ...nurse, title: "Night Porter" })]);
    // late-2: the same, within one batch.
    await send([
      jobEvent("late-2", 3000, { ...nurse, views: 7 }),
      jobEvent("late-2", 2000, { ...nurse, title: "Night Porter" }),
    ]);

    // The newest event (3000) says "Registered Nurse": that is what the store must hold.
    await expectStoreMatches(store, version, expectedFinalState(produced, version));
    // And the training data must not state "Night Porter" as of 2000, after the entity was already
    // "Registered Nurse" as of 3000 (a point-in-time join between 2000 and 3000 would read it).
    const outputs = schemaValid(await readAll(outputTopic)).filter((value) => value.id.startsWith("late-"));
    expect(outputs.map((value) => [value.id, value.eventTime])).toEqual([
      ["late-1", new Date(1000).toISOString()],
      ["late-2", new Date(1000).toISOString()],
    ]);
  });

  it("applies delete-then-upsert of one key within one batch in order, in the store and on the output topic", async () => {
    const before = { ...app.worker.totals };
    const pilot = { title: "Pilot", company: "Wayne Logistics", skills: ["A320"] };
    await send([
      jobEvent("du-1", 1000, pilot),
      jobEvent("du-1", 2000, { op: "d" }),
      jobEvent("du-1", 3000, pilot), // re-created with the same text: embedded again, not "unchanged"
      jobEvent("du-2", 1000, pilot),
      { key: "du-2", value: null }, // a Kafka tombstone: deleted as of its record timestamp
    ]);
    const after = app.worker.totals;
    expect(after.embedded - before.embedded).toBe(3);
    expect(after.deleted - before.deleted).toBe(2);
    expect(after.inferenceTexts - before.inferenceTexts).toBe(1);
    await expectStoreMatches(store, version, expectedFinalState(produced, version));
    const outputs = schemaValid(await readAll(outputTopic)).filter((value) => value.id.startsWith("du-"));
    expect(outputs.map((value) => [value.id, value.op, value.dimensions])).toEqual([
      ["du-1", "upsert", 384],
      ["du-1", "delete", 0],
      ["du-1", "upsert", 384],
      ["du-2", "upsert", 384],
      ["du-2", "delete", 0],
    ]);
    expect(Number(outputs[4]!.source.offset)).toBeGreaterThan(Number(outputs[3]!.source.offset));
  });

  it("dead-letters an event time that does not exist, with its original key, value and headers", async () => {
    const before = app.worker.totals.deadLettered;
    await send([
      {
        key: "dl-1",
        value: { jobId: "dl-1", updatedAt: "2026-02-30T10:00:00Z", title: "Pilot" },
        headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "schema-id": "7" },
      },
    ]);
    expect(app.worker.totals.deadLettered - before).toBeGreaterThanOrEqual(1);
    const dead = (await readAll(deadLetterTopic)).find((record) => record.key === "dl-1");
    expect(dead?.headers).toMatchObject({
      "jude.error.code": "INVALID_EVENT_TIME",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "schema-id": "7",
    });
    expect(dead?.headers["jude.source.timestamp"]).toMatch(/^[0-9]{13}$/);
    expect(JSON.parse(dead!.value!.toString())).toEqual({
      jobId: "dl-1",
      updatedAt: "2026-02-30T10:00:00Z",
      title: "Pilot",
    });
  });
  it("dead-letters an empty value instead of deleting the entity: only a null value is a tombstone", async () => {
    await send([jobEvent("ev-1", 1000, { title: "Welder", company: "Acme", skills: [] })]);
    await send([{ key: "ev-1", value: Buffer.alloc(0) }]);
    // Kafka's compaction keeps a key whose latest value is empty; the store must keep its vector too.
    await expectStoreMatches(
      store,
      version,
      expectedFinalState(
        produced.filter((event) => event.key === "ev-1" && !Buffer.isBuffer(event.value)),
        version,
      ),
    );
    const dead = (await readAll(deadLetterTopic)).find((record) => record.key === "ev-1");
    expect(dead?.headers["jude.error.code"]).toBe("INVALID_JSON");
    expect(dead?.value).toBeUndefined(); // read back as no bytes
    const outputs = schemaValid(await readAll(outputTopic)).filter((value) => value.id === "ev-1");
    expect(outputs.map((value) => value.op)).toEqual(["upsert"]);
  });

  it("counts every case once, in its totals and on /metrics alike", async () => {
    // 6 events of the late-event case (2 created, 2 unchanged, 2 stale), 5 of delete-then-upsert
    // (3 embedded, 2 deleted), 1 dead letter, 2 of the empty value (1 embedded, 1 dead letter);
    // nothing was redelivered (no fault).
    const expected = {
      consumed: 14,
      embedded: 6,
      skippedUnchanged: 2,
      skippedStale: 2,
      deleted: 2,
      deadLettered: 2,
    };
    expect(app.worker.totals).toMatchObject(expected);
    const metric = async (name: string, labels = "") =>
      workerMetric(app.ops.port, `jude_pipeline_${name}`, labels);
    expect({
      consumed: await metric("consumed_total"),
      embedded: await metric("embedded_total"),
      skippedUnchanged: await metric("skipped_unchanged_total"),
      skippedStale: await metric("skipped_stale_total"),
      deleted: await metric("deleted_total"),
      deadLettered:
        (await metric("dead_lettered_total", 'code="INVALID_EVENT_TIME"')) +
        (await metric("dead_lettered_total", 'code="INVALID_JSON"')),
    }).toEqual(expected);
  });
});
