/**
 * The README promises that readers in any language can use the store layout. layout-reader.py is such
 * a reader, written in Python from the README alone (standard library only): here it reads float32 and
 * float16 vectors, tombstones and metadata that the project's writer stored, and follows a flip
 * notification, and must agree with the TypeScript reader on every value and on what it refuses to
 * answer (a lost version, a hand-edited pointer, a silent server).
 */

import { spawn } from "node:child_process";
import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { StoreWrite } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  bucketKeys,
  bucketOf,
  flip,
  isStoreError,
  markVersionComplete,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets } from "./helpers.ts";

const script = fileURLToPath(new URL("./layout-reader.py", import.meta.url));
const standalone = testTargets().find((target) => target.name === "standalone") as ReturnType<
  typeof testTargets
>[number];
const url = (standalone.target as { url: string }).url;
const ids = [
  ...Array.from({ length: 300 }, (_, index) => String(index)),
  "urn:li:job:7",
  "日本語",
  "emoji🙂",
  "x{y}z",
];
const deleted = new Set(ids.filter((_, index) => index % 10 === 3));
const dimension = 16;

interface PythonHit {
  readonly meta: string | null;
  readonly version?: string;
  readonly dtype?: string;
  readonly modelDigest?: string;
  readonly vector?: number[];
}
interface PythonLookup {
  readonly meta: Record<string, string>;
  readonly pointer: Record<string, string>;
  readonly hits: PythonHit[] | null;
}
interface PythonError {
  readonly error: { readonly code: string; readonly message: string };
}

describe("a Python reader written from the README", () => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("reads what the project's writer stored, float32 and float16, and follows a flip", async () => {
    testStore = await createTestStore(standalone, "python-reader", 1024);
    const { store } = testStore;
    expect(await pythonLookup(store.layout.prefix, { entity: "job", ids })).toMatchObject({
      meta: { layout: "1", buckets: "1024" },
      pointer: {},
      hits: null,
    });
    for (const [version, dtype] of [
      ["v32", "f32"],
      ["v16", "f16"],
    ] as const) {
      await registerVersion(store, version, { modelDigest: `sha256:${version}`, dimension, dtype });
      const writer = new StoreWriter(store, { dtype });
      await writer.write(ids.map((id, index) => upsertOf(version, id, index)));
      await writer.write([...deleted].map((id, index): StoreWrite => deleteOf(version, id, index)));
      await markVersionComplete(store, version);
    }

    const watcher = await startWatch(store.layout.prefix);
    await flip(store, { expectedCurrent: null, target: "v32" });
    expect(await watcher.next()).toEqual({ message: { epoch: 1, current: "v32", backup: "", kind: "flip" } });
    expect(await watcher.next()).toMatchObject({
      pointer: { current: "v32", backup: "", epoch: "1", kind: "flip" },
    });
    await watcher.exited;
    await flip(store, { expectedCurrent: "v32", target: "v16" });

    const { store: readerStore } = await testStore.reopen();
    const reader = await StoreReader.open(readerStore, { subscribe: false, refreshIntervalMs: 0 });
    try {
      for (const version of [undefined, "v32"]) {
        const python = (await pythonLookup(store.layout.prefix, {
          entity: "job",
          ids,
          version,
        })) as PythonLookup;
        const expected = await reader.getMany("job", ids, version === undefined ? {} : { version });
        const effective = version ?? "v16";
        expect(python.pointer).toMatchObject({ current: "v16", backup: "v32", epoch: "2", kind: "flip" });
        const hits = python.hits as PythonHit[];
        expect(hits).toHaveLength(ids.length);
        ids.forEach((id, index) => {
          const hit = hits[index] as PythonHit;
          if (deleted.has(id)) {
            expect(hit).toEqual({ meta: `D|5000|${[...deleted].indexOf(id)}|1|` });
            expect(expected[index]).toBeNull();
            return;
          }
          const want = expected[index];
          expect(hit).toEqual({
            meta: `L|${1_000 + index}|${index}|0|hash-${index}`,
            version: effective,
            dtype: effective === "v16" ? "f16" : "f32",
            modelDigest: `sha256:${effective}`,
            vector: Array.from(want?.vector ?? []),
          });
          if (effective === "v32") expect(hit.vector).toEqual(vectorOf(index).map(Math.fround));
        });
      }
    } finally {
      await reader.close();
    }
  });

  it("refuses, as the TypeScript reader does, to answer misses from a lost version or a hand-edited pointer", async () => {
    testStore = await createTestStore(standalone, "python-reader-refusals", 16);
    const { store, client } = testStore;
    const spec = { modelDigest: "sha256:A", dimension, dtype: "f32" } as const;
    await registerVersion(store, "A", spec);
    await new StoreWriter(store).write(ids.slice(0, 10).map((id, index) => upsertOf("A", id, index)));
    await markVersionComplete(store, "A");
    await flip(store, { expectedCurrent: null, target: "A" });
    const prefix = store.layout.prefix;
    const { store: readerStore } = await testStore.reopen();
    const reader = await StoreReader.open(readerStore, {
      subscribe: false,
      refreshIntervalMs: 0,
      recheckPointerOnMissAfterMs: 0,
    });
    const both = async (lookupIds: string[], version?: string) => {
      const python = await pythonLookup(prefix, { entity: "job", ids: lookupIds, version });
      const typescript = await reader
        .getMany("job", lookupIds, version === undefined ? {} : { version })
        .then(
          (hits) => hits.map((hit) => hit?.version ?? null),
          (error: unknown) => (isStoreError(error) ? { code: error.code } : error),
        );
      return { python, typescript };
    };
    const found = (python: PythonLookup | PythonError) =>
      "hits" in python ? python.hits?.map((hit) => hit.version ?? null) : python;
    try {
      const answered = await both(["1", "missing"]);
      expect(found(answered.python)).toEqual(["A", null]);
      expect(answered.typescript).toEqual(["A", null]);
      const unknown = await both(["1", "missing"], "Z");
      expect(unknown.python).toMatchObject({ error: { code: "VERSION_NOT_FOUND" } });
      expect(unknown.typescript).toEqual({ code: "VERSION_NOT_FOUND" });

      // Redis lost the registry entry: every miss would read as "not embedded".
      await client.hdel(store.keys.versions, "A");
      const lost = await both(["1", "missing"]);
      expect(lost.python).toMatchObject({
        error: { code: "NO_CURRENT_VERSION", message: expect.stringContaining("version A") },
      });
      expect(lost.typescript).toEqual({ code: "NO_CURRENT_VERSION" });
      expect(found((await both(["1"])).python)).toEqual(["A"]);
      await registerVersion(store, "A", spec);
      const rebuilding = await both(["1", "missing"]);
      expect(rebuilding.python).toMatchObject({
        error: { code: "NO_CURRENT_VERSION", message: expect.stringContaining("is building, not complete") },
      });
      expect(rebuilding.typescript).toEqual({ code: "NO_CURRENT_VERSION" });
      await markVersionComplete(store, "A");
      expect(found((await both(["1", "missing"])).python)).toEqual(["A", null]);

      // A pointer edited by hand: a reader does not build keys from a name no flip writes.
      for (const [field, value] of [
        ["current", "bad name!"],
        ["backup", "A}:x"],
      ] as const) {
        await client.hset(store.keys.pointer, field, value, "epoch", "9");
        const corrupt = await both(["1", "missing"]);
        expect(corrupt.python).toEqual({
          error: {
            code: "CORRUPT_RECORD",
            message: `${store.keys.pointer} ${field} ${JSON.stringify(value)} is not a version name`,
          },
        });
        expect(corrupt.typescript).toEqual({ code: "CORRUPT_RECORD" });
        const named = await both(["1", "missing"], "A");
        expect(found(named.python)).toEqual(["A", null]);
        expect(named.typescript).toEqual(["A", null]);
        await client.hset(store.keys.pointer, "current", "A", "backup", "", "epoch", "1");
      }
    } finally {
      await reader.close();
    }
  });

  it("refuses, as the TypeScript reader does, names that are no record's and a payload that does not decode", async () => {
    testStore = await createTestStore(standalone, "python-reader-names", 16);
    const { store, client } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension, dtype: "f32" });
    await new StoreWriter(store).write([upsertOf("A", "1", 1), upsertOf("A", "b:2", 2)]);
    await markVersionComplete(store, "A");
    await flip(store, { expectedCurrent: null, target: "A" });
    const { store: readerStore } = await testStore.reopen();
    const reader = await StoreReader.open(readerStore, { subscribe: false, refreshIntervalMs: 0 });
    const both = async (entity: string, lookupIds: string[]) => ({
      python: await pythonLookup(store.layout.prefix, { entity, ids: lookupIds }),
      typescript: await reader.getMany(entity, lookupIds).then(
        (hits) => hits.map((hit) => hit?.version ?? null),
        (error: unknown) => (isStoreError(error) ? { code: error.code } : error),
      ),
    });
    try {
      // Entity `job:b` with id `2` would be the field `job:b:2`, record `b:2` of entity `job`.
      for (const [entity, lookupIds] of [
        ["job:b", ["2"]],
        ["job", ["1", "\ud800"]],
        ["job", ["1", "x".repeat(513)]],
        ["job", ["1", ""]],
      ] as const) {
        const refused = await both(entity, [...lookupIds]);
        expect(refused.python).toMatchObject({ error: { code: "INVALID_ARGUMENT" } });
        expect(refused.typescript).toEqual({ code: "INVALID_ARGUMENT" });
      }
      const bucket = bucketKeys(store.layout, "A", bucketOf(store.layout, "job:1"));
      await client.hset(bucket.data, "job:1", "J1 f32 16 sha256:A\nshort");
      const corrupt = await both("job", ["1"]);
      expect(corrupt.python).toMatchObject({ error: { code: "CORRUPT_RECORD" } });
      expect(corrupt.typescript).toEqual({ code: "CORRUPT_RECORD" });
    } finally {
      await reader.close();
    }
  });

  it("gives up on a server that accepts the connection and never answers", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const python = await pythonLookup(
        "jude-test:silent",
        { entity: "job", ids: ["1"] },
        {
          url: `redis://127.0.0.1:${port}`,
          deadlineMs: 500,
        },
      );
      expect(python).toMatchObject({ error: { code: "STORE_UNAVAILABLE" } });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

function vectorOf(index: number): number[] {
  return Array.from({ length: dimension }, (_, element) => Math.sin(index * 0.37 + element * 0.11) * 3.3);
}

function upsertOf(version: string, id: string, index: number): StoreWrite {
  return {
    kind: "upsert",
    version,
    entity: "job",
    id,
    eventTimeMs: 1_000 + index,
    offset: index,
    partition: 0,
    contentHash: `hash-${index}`,
    vector: vectorOf(index),
    modelDigest: `sha256:${version}`,
  };
}

function deleteOf(version: string, id: string, index: number): StoreWrite {
  return { kind: "delete", version, entity: "job", id, eventTimeMs: 5_000, offset: index, partition: 1 };
}

/** Runs a Python lookup: its answer, or the error it reports (exit status 1). */
async function pythonLookup(
  prefix: string,
  request: { entity: string; ids: readonly string[]; version?: string | undefined },
  target: { url: string; deadlineMs: number } = { url, deadlineMs: 5_000 },
): Promise<PythonLookup | PythonError> {
  const args = [script, "lookup", target.url, prefix, String(target.deadlineMs)];
  const child = spawn("python3", args, { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdin.end(JSON.stringify(request));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code === 1 && stdout.startsWith('{"error"')) return JSON.parse(stdout) as PythonError;
  if (code !== 0) throw new Error(`layout-reader.py lookup exited ${String(code)}: ${stderr}`);
  return JSON.parse(stdout) as PythonLookup;
}

async function startWatch(
  prefix: string,
): Promise<{ next: () => Promise<unknown>; exited: Promise<unknown> }> {
  const child = spawn("python3", [script, "watch", url, prefix], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done === true) throw new Error("layout-reader.py watch ended early");
    return JSON.parse(line.value) as unknown;
  };
  expect(await next()).toEqual({ subscribed: true });
  return { next, exited };
}
