import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { rewriteInPlace } from "./pod-sandbox.ts";

// Reads the file over and over, as each name lookup in a pod reads /etc/hosts, until told to stop or
// a read lacks one of the lines every version of the file has; then reports what it saw.
const reader = `
const { openSync, readSync, closeSync } = require("node:fs");
const { parentPort, workerData } = require("node:worker_threads");
let stop = false;
parentPort.on("message", () => { stop = true; });
const buffer = Buffer.alloc(65536);
let reads = 0;
const loop = () => {
  for (let i = 0; i < 100; i += 1) {
    const fd = openSync(workerData.path, "r");
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    closeSync(fd);
    reads += 1;
    const lines = new Set(buffer.toString("utf8", 0, length).split("\\n"));
    const missing = workerData.stable.find((line) => !lines.has(line));
    if (missing !== undefined) {
      parentPort.postMessage({ reads, torn: buffer.toString("utf8", 0, length) });
      return;
    }
  }
  if (stop) parentPort.postMessage({ reads });
  else setImmediate(loop);
};
loop();
`;

describe("rewriteInPlace", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("never lets a reader see the file empty or cut short while it changes", async () => {
    dir = mkdtempSync(join(tmpdir(), "rewrite-in-place-"));
    const path = join(dir, "hosts");
    const stable = Array.from({ length: 30 }, (_, i) => `10.122.0.${i}\tsvc-${i}.ns.svc.cluster.local`);
    const short = `${stable.join("\n")}\n`;
    const long = `${short}10.122.1.1\textra.ns.svc.cluster.local extra.ns.svc extra.ns\n`;
    writeFileSync(path, short);
    const worker = new Worker(reader, { eval: true, workerData: { path, stable } });
    const report = new Promise<{ reads: number; torn?: string }>((resolve) =>
      worker.once("message", resolve),
    );
    let torn = false;
    void report.then((result) => (torn = result.torn !== undefined));
    const until = Date.now() + 500;
    for (let round = 0; Date.now() < until && !torn; round += 1) {
      rewriteInPlace(path, round % 2 === 0 ? long : short);
      await new Promise((done) => setImmediate(done));
    }
    worker.postMessage("stop");
    const result = await report;
    await worker.terminate();
    expect(result.torn).toBeUndefined();
    expect(result.reads).toBeGreaterThan(100);
  });

  it("leaves exactly the new content, shorter or longer, in the same file", () => {
    dir = mkdtempSync(join(tmpdir(), "rewrite-in-place-"));
    const path = join(dir, "hosts");
    writeFileSync(path, "a much longer first version\n");
    const { ino } = statSync(path);
    rewriteInPlace(path, "short\n");
    expect(readFileSync(path, "utf8")).toBe("short\n");
    rewriteInPlace(path, "longer than the last one\n");
    expect(readFileSync(path, "utf8")).toBe("longer than the last one\n");
    expect(statSync(path).ino).toBe(ino);
    rewriteInPlace(join(dir, "new"), "created\n");
    expect(readFileSync(join(dir, "new"), "utf8")).toBe("created\n");
  });
});
