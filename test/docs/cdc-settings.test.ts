// The README's decode settings for CDC setups, run on events shaped as each tool emits them: creates,
// updates, snapshot reads, delete events, tombstones and truncates. A row that stops deleting deleted
// rows, or a note that stops being true, fails here instead of in a platform engineer's pipeline.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { decode as decodeSpec } from "../../crds/nearline-pipeline.ts";
import { createDecoder, type DecodeResult, type SourceRecord } from "../../pipelines/shared/decode.ts";
import { createEntityTextRenderer } from "../../pipelines/shared/entity-text.ts";
import { readDocument } from "./markdown.ts";

const readme = readDocument("README.md");

interface SetupRow {
  setup: string;
  decode: unknown;
  /** The extract path of the row's `headline` column. */
  headlinePath: string;
}

/** The rows of the README's table of decode settings for CDC setups. */
function setupRows(): SetupRow[] {
  const start = readme.indexOf("Decode settings for common CDC setups");
  expect(start, "README.md: the CDC settings table").toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf("\n\n", readme.indexOf("| setup", start)));
  return [...section.matchAll(/^\| (.+?)\s*\| `(\{.*\})`\s*\| `(.*)`\s*\|$/gm)].map((match) => ({
    setup: match[1]!,
    decode: parse(match[2]!) as unknown,
    headlinePath: match[3]!.replace("…", "headline"),
  }));
}

const commitMs = 1_760_000_000_000; // the database's commit time of each change
const recordMs = 1_760_000_000_900; // when the record reached Kafka
const key = { memberId: 7 };
const row = { memberId: 7, headline: "Staff nurse" };

/** Kafka record of a JSON key and value (null: a tombstone or no key). */
function record(keyJson: unknown, value: unknown): SourceRecord {
  const bytes = (json: unknown) => (json === null ? null : Buffer.from(JSON.stringify(json)));
  return { key: bytes(keyJson), value: bytes(value), timestamp: recordMs, partition: 0, offset: 1n };
}

/** A Debezium envelope (PostgreSQL connector) for `op`. */
function envelope(op: "c" | "u" | "r" | "d" | "t") {
  const source = { connector: "postgresql", db: "profiles", table: "member", ts_ms: commitMs };
  if (op === "t") return { source, op, ts_ms: commitMs + 40 };
  return {
    before: op === "d" ? row : null,
    after: op === "d" ? null : row,
    source: { ...source, snapshot: op === "r" ? "true" : "false" },
    op,
    ts_ms: commitMs + 40,
  };
}

/** A setup's events: a create and a delete event, and the others where the tool sends them. */
interface SetupEvents {
  create: SourceRecord;
  deleteEvent: SourceRecord;
  snapshotRead?: SourceRecord;
  tombstone?: SourceRecord;
  truncate?: SourceRecord;
}

/** Each setup's events, shaped as the tool emits them. */
function eventsOf(setup: string): SetupEvents {
  const schema = { type: "struct", optional: false, fields: [] };
  if (setup.includes("schemas.enable=false"))
    return {
      create: record(key, envelope("c")),
      snapshotRead: record(key, envelope("r")),
      deleteEvent: record(key, envelope("d")),
      tombstone: record(key, null),
      truncate: record(null, envelope("t")),
    };
  if (setup.includes("schemas.enable=true")) {
    const keyed = { schema, payload: key };
    return {
      create: record(keyed, { schema, payload: envelope("c") }),
      snapshotRead: record(keyed, { schema, payload: envelope("r") }),
      deleteEvent: record(keyed, { schema, payload: envelope("d") }),
      tombstone: record(keyed, null),
      truncate: record(null, { schema, payload: envelope("t") }),
    };
  }
  if (setup.includes("ExtractNewRecordState"))
    return {
      create: record(key, { ...row, __deleted: "false", __ts_ms: commitMs + 40 }),
      deleteEvent: record(key, { ...row, __deleted: "true", __ts_ms: commitMs + 40 }),
      tombstone: record(key, null),
    };
  if (setup.startsWith("Maxwell")) {
    const maxwell = { database: "profiles", table: "member", ts: commitMs / 1000, xid: 940, commit: true };
    const maxwellKey = { database: "profiles", table: "member", "pk.memberid": 7 };
    return {
      create: record(maxwellKey, { ...maxwell, type: "insert", data: row }),
      deleteEvent: record(maxwellKey, { ...maxwell, type: "delete", data: row }),
    };
  }
  throw new Error(`no events for the README's CDC setup ${setup}`);
}

describe("the README's decode settings for CDC setups", () => {
  const rows = setupRows();

  it("lists the setups this test has events for, each a valid decode", () => {
    expect(rows).toHaveLength(4);
    for (const each of rows) {
      expect(() => eventsOf(each.setup)).not.toThrow();
      expect(() => decodeSpec.parse(each.decode), each.setup).not.toThrow();
    }
  });

  for (const each of rows) {
    it(`${each.setup}: upserts with the row's text, deletes on every delete the tool sends`, () => {
      const decode = createDecoder(decodeSpec.parse(each.decode));
      const render = createEntityTextRenderer({
        extract: { headline: each.headlinePath },
        template: "Member: {{headline}}",
        modelVersion: "v1",
      });
      const events = eventsOf(each.setup);
      // Maxwell's ts is seconds: the row leaves eventTimePath unset, so the record timestamp is used.
      const eventTimeMs = each.setup.startsWith("Maxwell") ? recordMs : commitMs + 40;
      for (const upsert of [events.create, events.snapshotRead]) {
        if (upsert === undefined) continue;
        const decoded = decode(upsert);
        expect(decoded).toMatchObject({ ok: true, change: { op: "upsert", id: "7", eventTimeMs } });
        const document = decoded.ok && decoded.change.op === "upsert" ? decoded.change.document : {};
        expect(render(document).text).toBe("Member: Staff nurse");
      }
      const deletes: DecodeResult[] = [decode(events.deleteEvent)];
      if (events.tombstone) deletes.push(decode(events.tombstone));
      for (const deleted of deletes)
        expect(deleted).toMatchObject({ ok: true, change: { op: "delete", id: "7" } });
      if (events.truncate)
        expect(decode(events.truncate)).toMatchObject({
          ok: false,
          failure: { code: "MISSING_ID", reason: expect.stringMatching(/truncate event \(op "t"\)/) },
        });
    });
  }

  // A snapshot reads each table in a transaction begun at its start, so it reads a row as it was then;
  // its source.ts_ms is when the table was read (DBZ-1588, DBZ-5591). A change committed meanwhile is
  // streamed after the snapshot with its commit time, earlier than that read time.
  it("orders a change committed during the initial snapshot after the snapshot's read of its row", () => {
    for (const each of rows.filter((row) => row.setup.startsWith("Debezium"))) {
      const decode = createDecoder(decodeSpec.parse(each.decode));
      const tableReadMs = commitMs + 60_000; // the snapshot reached the table after the change
      const snapshotRead = {
        ...envelope("r"),
        source: { ts_ms: tableReadMs, snapshot: "true" },
        ts_ms: tableReadMs + 3,
        after: { ...row, headline: "Nurse" }, // as it was when the snapshot began, before the change
      };
      const streamed = {
        ...envelope("u"),
        source: { ts_ms: commitMs, snapshot: "false" },
        ts_ms: tableReadMs + 900_000,
      };
      const shaped = (value: { after?: unknown; ts_ms: number }) =>
        each.setup.includes("schemas.enable=true")
          ? record({ schema: {}, payload: key }, { schema: {}, payload: value })
          : each.setup.includes("ExtractNewRecordState")
            ? record(key, {
                ...(value.after as object),
                __deleted: "false",
                __ts_ms: value.ts_ms,
              })
            : record(key, value);
      const [read, change] = [decode(shaped(snapshotRead)), decode(shaped(streamed))];
      if (!read.ok || !change.ok) throw new Error(`${each.setup}: not decoded`);
      // Newer event times win in the store: the streamed change must be the newer one.
      expect(change.change.eventTimeMs, each.setup).toBeGreaterThan(read.change.eventTimeMs);
    }
  });

  it("the notes on event times, rewritten deletes, TOAST values, MongoDB and encodings hold", () => {
    const [plain, , unwrap] = rows.map((each) => decodeSpec.parse(each.decode));
    // Debezium 2.6+ also sends ts_us and ts_ns (in the envelope and in source).
    const at = (field: "ts_us" | "ts_ns", value: number) =>
      createDecoder({ ...plain!, eventTimePath: `$.source.${field}` })(
        record(key, { ...envelope("u"), source: { [field]: value } }),
      );
    expect(at("ts_us", commitMs * 1000)).toMatchObject({
      ok: false,
      failure: { code: "EVENT_TIME_AHEAD" },
    });
    expect(at("ts_ns", commitMs * 1_000_000)).toMatchObject({
      ok: false,
      failure: { code: "INVALID_EVENT_TIME" },
    });
    const maxwellTs = createDecoder({ keyPath: "$.data.memberId", eventTimePath: "$.ts" })(
      record(null, { type: "update", ts: commitMs / 1000, data: row }),
    );
    expect(maxwellTs).toMatchObject({ ok: true, change: { eventTimeMs: commitMs / 1000 } }); // January 1970
    // Without the __deleted rule a rewritten delete is a live row.
    const noRule = createDecoder({ ...unwrap!, delete: undefined });
    expect(noRule(eventsOf(rows[2]!.setup).deleteEvent)).toMatchObject({
      ok: true,
      change: { op: "upsert" },
    });

    const render = (path: string, document: unknown) =>
      createEntityTextRenderer({ extract: { headline: path }, template: "{{headline}}", modelVersion: "v1" })(
        document,
      );
    expect(
      render("$.after.headline", { after: { headline: "__debezium_unavailable_value" } }).unavailable,
    ).toEqual(["headline"]);
    // MongoDB's after is a JSON string: nothing under it.
    expect(render("$.after.headline", { after: JSON.stringify(row), op: "c" }).text).toBe("");
    // DECIMAL 1234.50 under decimal.handling.mode=precise, and a DATE: embedded as they come.
    expect(render("$.after.salary", { after: { salary: "AeJC" } }).text).toBe("AeJC");
    expect(render("$.after.since", { after: { since: 19_723 } }).text).toBe("19723");
  });
});
