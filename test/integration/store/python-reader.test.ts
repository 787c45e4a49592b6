/**
 * The README promises that readers in any language can use the store layout. layout-reader.py is such
 * a reader, written in Python from the README alone (standard library only): here it reads float32 and
 * float16 vectors, tombstones and metadata that the project's writer stored, and follows a flip
 * notification, and must agree with the TypeScript reader on every value.
 */

import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { StoreWrite } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  flip,
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
        const python = await pythonLookup(store.layout.prefix, { entity: "job", ids, version });
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

async function pythonLookup(
  prefix: string,
  request: { entity: string; ids: readonly string[]; version?: string | undefined },
): Promise<PythonLookup> {
  const child = spawn("python3", [script, "lookup", url, prefix], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdin.end(JSON.stringify(request));
  const [code] = (await once(child, "exit")) as [number | null];
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
