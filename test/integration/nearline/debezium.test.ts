/**
 * A Debezium change stream on real Kafka, Redis and the real embedding server: JSON record keys
 * ({"jobId": …}), the row under $.after, delete events whose row is only under $.before, and the
 * tombstones Debezium sends after them. With `decode.recordKeyPath` every one of them names the same
 * entity, so a deleted row's vector goes away (with `keyPath: $.after.jobId` the delete event was
 * dead-lettered MISSING_ID and the tombstone deleted an entity named after the whole key text).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { produceEvents, readTopic, recordCount, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectStoreMatches,
  startInProcessPipeline,
  type InProcessPipeline,
} from "../../support/nearline.ts";
import { jobHash, jobText } from "../../support/nearline-oracle.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "minilm-v1";

/** A Debezium change event (JSON converter, schemas off) of the jobs table, keyed as Debezium keys it. */
function change(
  jobId: string,
  op: "c" | "u" | "d" | "r",
  tsMs: number,
  row: Record<string, unknown>,
  // With REPLICA IDENTITY DEFAULT the old row of an update is not sent, only its key.
  before: Record<string, unknown> | null = op === "c" || op === "r" ? null : { jobId, ...row },
  // When Debezium processed it; source.ts_ms is the commit time (a snapshot read's: when it was read).
  processedMs = tsMs + 5,
): TestEvent {
  const rowWithId = { jobId, ...row };
  return {
    key: JSON.stringify({ jobId }),
    value: {
      before,
      after: op === "d" ? null : rowWithId,
      op,
      ts_ms: processedMs,
      source: {
        connector: "postgresql",
        db: "jobs",
        table: "job",
        ts_ms: tsMs,
        snapshot: op === "r" ? "true" : "false",
      },
    },
  };
}
const tombstone = (jobId: string): TestEvent => ({ key: JSON.stringify({ jobId }), value: null });

describe("nearline on a Debezium change stream", () => {
  let pipeline: InProcessPipeline;
  const topic = uniqueTopic("nl-dbz-src");
  const deadLetterTopic = uniqueTopic("nl-dbz-dlq");

  beforeAll(async () => {
    pipeline = await startInProcessPipeline({
      version,
      topic,
      deadLetterTopic,
      configure: (config) => ({
        ...config,
        decode: {
          ...config.decode,
          keyPath: undefined,
          recordKeyPath: "$.jobId",
          eventTimePath: "$.ts_ms",
          delete: { path: "$.op", values: ["d"] },
        },
        extract: { title: "$.after.title", company: "$.after.company", skills: "$.after.skills[*]" },
      }),
    });
  });
  afterAll(() => pipeline?.stop());

  /** Produces `events` to the changelog and waits until the worker has consumed them all. */
  async function consumeChanges(events: TestEvent[]): Promise<void> {
    const { worker } = pipeline.app;
    const consumedBefore = worker.totals.consumed;
    await produceEvents(topic, events);
    await waitFor(
      `the worker to consume ${events.length} changes`,
      () => worker.totals.consumed >= consumedBefore + events.length,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
  }

  it("applies creates, updates, delete events and tombstones to the entity named in the key", async () => {
    const nurse = { title: "Registered Nurse", company: "Umbrella Health", skills: ["ICU"] };
    const pilot = { title: "Pilot", company: "Wayne Logistics", skills: ["A320"] };
    const events = [
      change("dbz-1", "c", 1000, nurse),
      change("dbz-1", "u", 2000, { ...nurse, title: "Charge Nurse" }),
      change("dbz-2", "c", 1000, pilot),
      change("dbz-2", "d", 3000, pilot),
      tombstone("dbz-2"),
      change("dbz-3", "c", 1000, pilot),
      tombstone("dbz-3"), // a compaction-only delete: the key alone
      change("dbz-4", "c", 1000, pilot),
      change("dbz-4", "d", 2000, pilot), // deleted, its tombstone not sent (tombstones.on.delete=false)
    ];
    await consumeChanges(events);
    const { app, store } = pipeline;

    await expectStoreMatches(
      store,
      version,
      new Map([
        ["dbz-1", jobHash(jobText({ ...nurse, title: "Charge Nurse" }), version)],
        ["dbz-2", null],
        ["dbz-3", null],
        ["dbz-4", null],
      ]),
    );
    expect(app.worker.totals.deleted).toBe(4);
    expect(await recordCount(deadLetterTopic)).toBe(0);
  });

  it("keeps the vector of an update whose TOAST column Debezium sent as its placeholder, and says why", async () => {
    // PostgreSQL with REPLICA IDENTITY DEFAULT: an update that leaves a large (TOASTed) column as it
    // was carries Debezium's placeholder in that column instead of its value.
    const { store } = pipeline;
    const deadBefore = await recordCount(deadLetterTopic);
    const engineer = { title: "Platform Engineer", company: "Acme", skills: ["Kubernetes", "Go"] };
    const events = [
      change("dbz-toast", "c", 1000, engineer),
      change(
        "dbz-toast",
        "u",
        2000,
        { ...engineer, title: "Staff Engineer", skills: ["__debezium_unavailable_value"] },
        null,
      ),
    ];
    await consumeChanges(events);
    // The created text stays: neither the placeholder nor half an update is embedded.
    await expectStoreMatches(store, version, new Map([["dbz-toast", jobHash(jobText(engineer), version)]]));
    const [dead] = (await readTopic(deadLetterTopic, deadBefore + 1)).slice(deadBefore);
    expect(dead!.key).toBe(JSON.stringify({ jobId: "dbz-toast" }));
    expect(dead!.headers["jude.error.code"]).toBe("UNAVAILABLE_VALUE");
    expect(dead!.headers["jude.error.reason"]).toMatch(/field skills holds .*REPLICA IDENTITY FULL/);
  });

  it("applies a change committed during the initial snapshot over the snapshot's older read of the row", async () => {
    // The snapshot reads the table at 10_000 as it was when the snapshot began; the update committed at
    // 4_000, in between, is streamed after the snapshot (processed at 20_000).
    const { store } = pipeline;
    const asSnapshotted = { title: "Line Cook", company: "Bistro", skills: ["Grill"] };
    const updated = { ...asSnapshotted, title: "Sous Chef" };
    const events = [
      change("dbz-snap", "r", 10_000, asSnapshotted, null, 10_002),
      change("dbz-snap", "u", 4_000, updated, null, 20_000),
    ];
    await consumeChanges(events);
    await expectStoreMatches(store, version, new Map([["dbz-snap", jobHash(jobText(updated), version)]]));
  });

  it("a tombstone, stamped when it was sent, deletes a row deleted and inserted again before the send", async () => {
    // DELETE then INSERT of one key in a transaction. Debezium leaves record timestamps to the
    // producer, so the tombstone's event time is when Kafka Connect sent the batch: after the
    // re-insert's ts_ms. With tombstones.on.delete=false the delete event alone deletes.
    const { store } = pipeline;
    const cook = { title: "Cook", company: "Bistro", skills: ["Grill"] };
    const baker = { title: "Baker", company: "Bistro", skills: ["Bread"] };
    const processedMs = Date.now() - 200; // Debezium processed the transaction, then Connect sent it
    const transaction = (jobId: string, tombstones: boolean): TestEvent[] => [
      change(jobId, "d", processedMs - 5, cook, { jobId, ...cook }, processedMs),
      ...(tombstones ? [tombstone(jobId)] : []),
      change(jobId, "c", processedMs - 5, baker, null, processedMs + 1),
    ];
    const events = [
      change("dbz-re-t", "c", 1000, cook),
      change("dbz-re", "c", 1000, cook),
      ...transaction("dbz-re-t", true),
      ...transaction("dbz-re", false),
    ];
    await consumeChanges(events);
    await expectStoreMatches(
      store,
      version,
      new Map([
        ["dbz-re-t", null],
        ["dbz-re", jobHash(jobText(baker), version)],
      ]),
    );
  });
});
