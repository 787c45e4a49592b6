/**
 * Hostile records on a real changelog: each undecodable one goes to the dead-letter topic with its
 * reason, and the good records around it, in the same batch, land in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NearlineApp } from "../../../pipelines/nearline/app.ts";
import { createRootLogger, silentLogger } from "../../../plumbing/logger.ts";
import type { Store } from "../../../store/index.ts";
import { produceEvents, readTopic, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  startInProcessPipeline,
  type InProcessPipeline,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "minilm-v1";

describe("nearline with hostile records", () => {
  let pipeline: InProcessPipeline;
  let app: NearlineApp;
  let store: Store;
  const topic = uniqueTopic("nl-bad-src");
  const outputTopic = uniqueTopic("nl-bad-out");
  const deadLetterTopic = uniqueTopic("nl-bad-dlq");

  beforeAll(async () => {
    pipeline = await startInProcessPipeline({
      version,
      topic,
      outputTopic,
      deadLetterTopic,
      logger: process.env.JUDE_TEST_LOG
        ? createRootLogger({ component: "nl-bad", level: "warn" })
        : silentLogger(),
    });
    ({ app, store } = pipeline);
  });
  afterAll(() => pipeline?.stop());

  it("dead-letters each hostile record with its reason and stores the good ones beside them", async () => {
    const good: TestEvent[] = [
      jobEvent("g1", 1000, { title: "Nurse", company: "Umbrella", skills: ["ICU"] }),
      // Ids with the store layout's separators and hash-tag characters are ordinary ids.
      jobEvent("g:2", 1000, { title: "Pilot", company: "Wayne", skills: [] }),
      jobEvent("{g3}", 1000, { title: "Cook", company: "Soylent", skills: [] }),
      jobEvent("g}{4 ✓", 1000, { title: "Baker", company: "Globex", skills: [] }),
      // The same key twice in one batch: the newer event wins.
      jobEvent("g1", 2000, { title: "Head Nurse", company: "Umbrella", skills: ["ICU"] }),
      jobEvent("g5", 1000, { title: `Writer ${"word ".repeat(100_000)}`, company: "Acme", skills: [] }),
      // After its far-future event below was dead-lettered, the entity still takes ordinary changes.
      jobEvent("ahead", 3000, { title: "Guard", company: "Acme", skills: [] }),
    ];
    const bad: (TestEvent & { code: string })[] = [
      { key: "bad-utf8", value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), code: "INVALID_JSON" },
      { key: "bad-array", value: "[1,2]", code: "NOT_AN_OBJECT" },
      { key: "bad-number", value: "42", code: "NOT_AN_OBJECT" },
      { key: "bad-id-object", value: { jobId: { a: 1 }, updatedAt: 1000, title: "x" }, code: "INVALID_ID" },
      { key: "bad-id-empty", value: { jobId: "", updatedAt: 1000, title: "x" }, code: "MISSING_ID" },
      {
        key: "bad-id-long",
        value: { jobId: "x".repeat(600), updatedAt: 1000, title: "x" },
        code: "INVALID_ID",
      },
      { key: "", value: null, code: "TOMBSTONE_WITHOUT_KEY" },
      // Stored as UTF-8, "\ud800" and "\ud801" would both become U+FFFD: two entities, one record.
      {
        key: "bad-id-surrogate",
        value: { jobId: "g1\ud800", updatedAt: 1000, title: "x" },
        code: "INVALID_ID",
      },
      {
        key: "bad-time-far",
        value: { jobId: "bad-time-far", updatedAt: 9e15, title: "x" },
        code: "INVALID_EVENT_TIME",
      },
      {
        key: "bad-time-string",
        value: { jobId: "bad-time-string", updatedAt: "9999999999999999", title: "x" },
        code: "INVALID_EVENT_TIME",
      },
      // Before 1970: negative epoch milliseconds, which the store refuses (it stopped the worker).
      {
        key: "bad-time-1969",
        value: { jobId: "bad-time-1969", updatedAt: "1969-12-31T23:59:59Z", title: "x" },
        code: "INVALID_EVENT_TIME",
      },
      // Newest wins per key: kept, it would hide every later change of "ahead" until the year 3000.
      {
        key: "ahead",
        value: { jobId: "ahead", updatedAt: "3000-01-01T00:00:00Z", title: "Future" },
        code: "EVENT_TIME_AHEAD",
      },
    ];
    const events = [
      good[0]!,
      ...bad.slice(0, 4),
      good[1]!,
      good[2]!,
      ...bad.slice(4),
      good[3]!,
      good[4]!,
      good[5]!,
      good[6]!,
    ];
    await produceEvents(topic, events);
    await waitFor("the worker to consume every record", () => app.worker.totals.consumed >= events.length, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    // A good record after them proves the stream still flows.
    const after = jobEvent("g6", 1000, { title: "Clerk", company: "Acme", skills: [] });
    await produceEvents(topic, [after]);
    await waitFor("the record after them", () => app.worker.totals.consumed >= events.length + 1, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    await expectStoreMatches(store, version, expectedFinalState([...good, after], version));

    const dead = await readTopic(deadLetterTopic, bad.length);
    expect(new Map(dead.map((record) => [record.key, record.headers["jude.error.code"]]))).toEqual(
      new Map(bad.map((event) => [event.key, event.code])),
    );
    for (const record of dead) expect(record.headers["jude.error.reason"]).toMatch(/\w/);
    // The version whose worker dead-lettered it: during a promotion each version's workers do.
    for (const record of dead) expect(record.headers["jude.version"]).toBe(version);
  });
  it("renders a field nested thousands of arrays deep, or an array of 200,000 values, and keeps flowing", async () => {
    const before = { ...app.worker.totals };
    // Well under the broker's 1 MiB: any producer can write them. Walking either by recursion (or by
    // spreading the array into one call) threw RangeError and stopped the worker, and every restart
    // stopped again on the same record: the partition stalled for good.
    const depth = 100_000;
    const deep = {
      key: "deep",
      value: `{"jobId":"deep","updatedAt":1000,"company":"Acme","title":${"[".repeat(depth)}"Diver"${"]".repeat(depth)}}`,
    };
    const wide = jobEvent("wide", 1000, {
      title: "Sorter",
      company: "Acme",
      skills: Array.from({ length: 200_000 }, (_, i) => String(i % 10)),
    });
    const after = jobEvent("g8", 1000, { title: "Miner", company: "Acme", skills: [] });
    for (const event of [deep, wide, after]) await produceEvents(topic, [event]);
    await waitFor(
      "the worker to consume them",
      () => app.worker.failure !== undefined || app.worker.totals.consumed >= before.consumed + 3,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals.deadLettered).toBe(before.deadLettered);
    // Arrays flatten at any depth, as the README's multi-valued paths say.
    const diver = jobEvent("deep", 1000, { title: "Diver", company: "Acme", skills: [] });
    await expectStoreMatches(store, version, expectedFinalState([diver, wide, after], version));
  });
  it("dead-letters records near the broker's message limit, cut to fit, and keeps flowing", async () => {
    const before = { ...app.worker.totals };
    // Each fits the source topic; with the dead letter's headers, or two in one send, they did not
    // fit the dead-letter topic (MESSAGE_TOO_LARGE), and the worker stopped on them for good.
    const big = [
      { key: "big-1", value: `{${"x".repeat(1_048_400)}` },
      { key: "big-2", value: `{${"y".repeat(600_000)}` },
      { key: "big-3", value: `{${"z".repeat(600_000)}` },
    ];
    const after = jobEvent("g7", 1000, { title: "Porter", company: "Acme", skills: [] });
    for (const event of [...big, after]) await produceEvents(topic, [event]);
    await waitFor("the worker to consume them", () => app.worker.totals.consumed >= before.consumed + 4, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    expect(app.worker.totals.deadLettered - before.deadLettered).toBe(3);
    await expectStoreMatches(store, version, expectedFinalState([after], version));
    const dead = (await readTopic(deadLetterTopic, before.deadLettered + 3)).filter((record) =>
      record.key.startsWith("big-"),
    );
    expect(dead.map((record) => [record.key, record.headers["jude.source.value-bytes"]])).toEqual([
      ["big-1", "1048401"],
      ["big-2", "600001"],
      ["big-3", "600001"],
    ]);
    expect(dead.map((record) => record.value?.length)).toEqual([512 * 1024, 512 * 1024, 512 * 1024]);
  });
  /**
   * Produces `bad` then `after`, one at a time: the worker goes on (no failure), dead-letters `bad`
   * alone and stores `after`; the dead letter.
   */
  const deadLetterOf = async (bad: TestEvent, after: TestEvent) => {
    const before = { ...app.worker.totals };
    for (const event of [bad, after]) await produceEvents(topic, [event]);
    await waitFor(
      "the worker to consume them",
      () => app.worker.failure !== undefined || app.worker.totals.consumed >= before.consumed + 2,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals.deadLettered - before.deadLettered).toBe(1);
    await expectStoreMatches(store, version, expectedFinalState([after], version));
    return (await readTopic(deadLetterTopic, before.deadLettered + 1)).at(-1)!;
  };

  it("dead-letters a record with a header without a value, carrying it, and keeps flowing", async () => {
    // Kafka allows a header whose value is null (Java's RecordHeader(name, null)); copying it into the
    // dead letter threw a TypeError and the worker stopped on the record for good.
    const bad = { key: "null-header", value: "{not json", headers: { "x-null": null, "x-set": "1" } };
    const after = jobEvent("g10", 1000, { title: "Mason", company: "Acme", skills: [] });
    const dead = await deadLetterOf(bad, after);
    expect([dead.key, dead.headers["jude.error.code"]]).toEqual(["null-header", "INVALID_JSON"]);
    expect([dead.headers["x-null"], dead.headers["x-set"]]).toEqual(["(null)", "1"]);
  });
  it("dead-letters a record near the broker's message limit in its headers, cut to fit, and keeps flowing", async () => {
    // It fits the source topic with a value under the dead letter's value cut: its bytes are in a
    // header. The dead letter carried it whole, plus its own headers, and did not fit the dead-letter
    // topic (OUTPUT_REFUSED): the worker stopped on the record for good. (A key as large is cut the
    // same way, records.test.ts; this client takes minutes to produce one here.)
    const value = `{${"v".repeat(400_000)}`;
    const headerBytes = 1_048_400 - value.length - "big-header".length;
    const big = { key: "big-header", value, headers: { trace: "h".repeat(headerBytes - "trace".length) } };
    const after = jobEvent("g9", 1000, { title: "Tailor", company: "Acme", skills: [] });
    const dead = await deadLetterOf(big, after);
    expect([dead.key, dead.headers["jude.error.code"]]).toEqual(["big-header", "INVALID_JSON"]);
    // The value is whole; the header that did not fit is left out, and the headers' full size said.
    expect(dead.value?.length).toBe(value.length);
    expect(dead.headers.trace).toBeUndefined();
    expect(dead.headers["jude.source.headers-bytes"]).toBe(String(headerBytes));
  });
});
