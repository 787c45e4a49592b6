/**
 * The JSON-lines file source over file:// and https:// (a local HTTPS server with a self-signed
 * certificate made by openssl): every entity written once whatever the split, delete rows written as
 * tombstones, an interrupted shard resuming an https file with a Range request from its checkpoint,
 * and a run created again under its name reading a rewritten file again instead of resuming.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countVersion, getVersion } from "../../../store/index.ts";
import {
  createBootstrapStore,
  jobDocument,
  readBack,
  renderJob,
  runShardInProcess,
  shardConfig,
  shardDocument,
} from "./helpers.ts";
import { countingEmbed, startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";

const dir = mkdtempSync(join(tmpdir(), "bootstrap-files-"));

function writeJsonl(name: string, rows: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");
  return path;
}

/** An HTTPS server for the files in `dir` that honours `Range: bytes=N-` and records the ranges asked. */
async function startHttpsServer(): Promise<{
  server: Server;
  port: number;
  caFile: string;
  ranges: (string | undefined)[];
}> {
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  const ranges: (string | undefined)[] = [];
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (request, response) => {
    const body = readFileSync(join(dir, (request.url ?? "/").slice(1)));
    ranges.push(request.headers.range);
    const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? "")?.[1] ?? Number.NaN);
    if (Number.isFinite(start)) {
      response.writeHead(206, { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` });
      response.end(body.subarray(start));
    } else {
      response.writeHead(200, { "content-length": body.length }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, caFile: cert, ranges };
}

describe("bootstrap from JSON-lines files (real Redis and model)", () => {
  let model: ServedEmbedder;
  beforeAll(async () => {
    model = await startServedEmbedder();
  });
  afterAll(async () => {
    await model?.close();
  });

  it("splits file:// lines over shards by id and writes each entity once", async () => {
    const first = writeJsonl(
      "a.jsonl",
      Array.from({ length: 90 }, (_, id) => ({ ...jobDocument(id, 15), at: 1_000 + id })),
    );
    const second = writeJsonl("b.jsonl", [
      ...Array.from({ length: 60 }, (_, index) => ({ ...jobDocument(90 + index, 15), at: 2_000 + index })),
      { id: "job-3", op: "delete", at: 5_000 },
    ]);
    const target = await createBootstrapStore("files");
    try {
      const counters = [0, 1, 2].map(() => countingEmbed(model.embed));
      const outcomes = await Promise.all(
        counters.map((counter, index) =>
          runShardInProcess(
            shardConfig(
              shardDocument({
                storeName: target.name,
                run: "files",
                source: { files: { uris: [pathToFileURL(first).href, pathToFileURL(second).href] } },
                shards: { count: 3, index },
                extra: {
                  decode: {
                    keyPath: "$.id",
                    eventTimePath: "$.at",
                    delete: { path: "$.op", values: ["delete"] },
                  },
                },
              }),
            ),
            counter.embed,
          ),
        ),
      );
      expect(outcomes.map((each) => each.outcome)).toEqual(["done", "done", "done"]);
      expect(counters.flatMap((counter) => counter.texts)).toHaveLength(15);
      const counts = outcomes.map((each) => each.state.counts);
      // Every shard read all 151 lines and kept its own ids; each line counts on its owner's shard only.
      expect(counts.reduce((sum, each) => sum + each.processed, 0)).toBe(151);
      expect(counts.every((each) => each.processed > 0 && each.processed < 151)).toBe(true);
      expect(counts.reduce((sum, each) => sum + each.written, 0)).toBe(150);
      expect(counts.reduce((sum, each) => sum + each.deleted, 0)).toBe(1);
      const stored = await readBack(target.store, ["job-3", "job-4", "job-120"]);
      expect(stored.get("job-3")).toMatchObject({
        meta: { live: false, eventTimeMs: 5_000, offset: 0, partition: -1 },
        vector: null,
      });
      expect(stored.get("job-4")!.meta).toMatchObject({
        live: true,
        eventTimeMs: 1_004,
        offset: 0,
        partition: -1,
      });
      expect(stored.get("job-120")!.meta!.contentHash).toBe(renderJob(jobDocument(120, 15)).hash);
      expect(await countVersion(target.store, "v2")).toMatchObject({ live: 149, tombstones: 1 });
    } finally {
      await target.drop();
    }
  });

  // The shard registers the vector settings the operator rendered into its config (the model's
  // pooling, normalize, maxSequenceLength, precision); a shard of the version told other ones is
  // refused before it writes anything, saying which differ.
  it("registers the version's vector settings, and a shard told other ones writes nothing", async () => {
    const path = writeJsonl("settings.jsonl", [jobDocument(1, 1), jobDocument(2, 2)]);
    const target = await createBootstrapStore("vecspec-files");
    const settings = { pooling: "mean", normalize: true, maxSequenceLength: 256, precision: "fp32" };
    const shard = (run: string, vectorSettings: Record<string, unknown>) => {
      const document = shardDocument({
        storeName: target.name,
        run,
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
      });
      (document.model as Record<string, unknown>).vectorSettings = vectorSettings;
      return shardConfig(document);
    };
    try {
      const done = await runShardInProcess(shard("settings", settings), countingEmbed(model.embed).embed);
      expect(done.outcome).toBe("done");
      expect((await getVersion(target.store, "v2"))?.vectorSettings).toEqual(settings);
      const before = await countVersion(target.store, "v2");
      const other = countingEmbed(model.embed);
      const refused = await runShardInProcess(
        shard("settings-cls", { ...settings, pooling: "cls" }),
        other.embed,
      ).catch((error: unknown) => error);
      expect((refused as Error).message).toContain(
        "version v2 cannot be written: it was registered with pooling mean, not this writer's cls",
      );
      expect(other.texts).toHaveLength(0);
      expect(await countVersion(target.store, "v2")).toEqual(before);
    } finally {
      await target.drop();
    }
  });

  it("reads https:// with a private CA and resumes an interrupted file with a Range request", async () => {
    writeJsonl(
      "c.jsonl",
      Array.from({ length: 200 }, (_, id) => jobDocument(id, 40)),
    );
    const https = await startHttpsServer();
    const target = await createBootstrapStore("https");
    try {
      const document = shardDocument({
        storeName: target.name,
        run: "https",
        source: { files: { uris: [`https://127.0.0.1:${https.port}/c.jsonl`], caFile: https.caFile } },
        shards: { count: 1, index: 0 },
        extra: { batching: { maxEntities: 16, inflightBatches: 2 } },
      });
      const abort = new AbortController();
      let calls = 0;
      // SIGTERM while the third batch is embedded. Two batches are in flight at a time, so the third
      // starts only once the first is committed; the call in flight is cancelled and its batch (and
      // the second, if it was still embedding) left to the resumed run.
      const first = countingEmbed(async (texts, signal) => {
        if (++calls === 3) abort.abort();
        return model.embed(texts, signal);
      });
      const interrupted = await runShardInProcess(shardConfig(document), first.embed, abort.signal);
      expect(interrupted.outcome).toBe("interrupted");
      const position = interrupted.state.units.f0!.position;
      expect(position).toBeGreaterThan(0);

      const second = countingEmbed(model.embed);
      const resumed = await runShardInProcess(shardConfig(document), second.embed);
      expect(resumed.outcome).toBe("done");
      expect(https.ranges).toEqual([undefined, `bytes=${position}-`]);
      expect(resumed.state.counts).toMatchObject({ processed: 200, inferenceTexts: 40 });
      // A batch abandoned after its write (the second, when it had finished embedding) is written again
      // by the resumed run and found in place: stale, not written twice.
      expect(resumed.state.counts.written + resumed.state.counts.stale).toBe(200);
      expect(first.texts.length + second.texts.length).toBe(40);
      const ids = Array.from({ length: 200 }, (_, id) => `job-${id}`);
      const stored = await readBack(target.store, ids);
      expect(
        ids.every(
          (id, index) => stored.get(id)!.meta?.contentHash === renderJob(jobDocument(index, 40)).hash,
        ),
      ).toBe(true);
    } finally {
      https.server.close();
      await target.drop();
    }
  });

  it("does its work again when the run is deleted and created again under its name (new uid)", async () => {
    // A nightly dump at a fixed path: the run is deleted and applied again to load the new dump. Its
    // shards find the first run's finished checkpoints under the same key (and the same work
    // fingerprint) and must not take them as their own: that finished the new run at once, with the
    // old counts and the old texts in the store.
    const path = join(dir, "dump.jsonl");
    const dump = (title: string, at: number) =>
      writeFileSync(
        path,
        Array.from({ length: 12 }, (_, id) => JSON.stringify({ id: `job-${id}`, title, company: "Acme", at }))
          .join("\n")
          .concat("\n"),
      );
    const target = await createBootstrapStore("rerun");
    try {
      const document = () =>
        shardDocument({
          storeName: target.name,
          run: "nightly",
          source: { files: { uris: [pathToFileURL(path).href] } },
          shards: { count: 1, index: 0 },
          extra: { decode: { keyPath: "$.id", eventTimePath: "$.at" } },
        });
      const withUid = (uid: string) => {
        const each = document();
        return { ...each, run: { ...(each.run as object), uid } };
      };
      dump("Baker", 1_000);
      const first = await runShardInProcess(shardConfig(withUid("uid-first")), model.embed);
      expect(first.state.counts.written).toBe(12);

      dump("Pilot", 2_000);
      const second = await runShardInProcess(shardConfig(withUid("uid-second")), model.embed);
      expect(second.resumed).toBe(false);
      expect(second.state.counts).toMatchObject({ processed: 12, written: 12 });
      const stored = await readBack(target.store, ["job-0", "job-11"]);
      const pilot = renderJob({ title: "Pilot", company: "Acme" }).hash;
      expect([...stored.values()].map((each) => each.meta?.contentHash)).toEqual([pilot, pilot]);
      // A pod of the same run restarted finds its own checkpoint and resumes it.
      const restarted = await runShardInProcess(shardConfig(withUid("uid-second")), model.embed);
      expect(restarted).toMatchObject({ outcome: "done", resumed: true });
    } finally {
      await target.drop();
    }
  });

  it("fails on a failed batch, even while stopping, without moving the checkpoint past it", async () => {
    const path = writeJsonl(
      "d.jsonl",
      Array.from({ length: 120 }, (_, id) => jobDocument(id, 120)),
    );
    const target = await createBootstrapStore("failed");
    try {
      const document = shardDocument({
        storeName: target.name,
        run: "failed",
        source: { files: { uris: [pathToFileURL(path).href] } },
        shards: { count: 1, index: 0 },
        extra: { batching: { maxEntities: 10, inflightBatches: 3 } },
      });
      const abort = new AbortController();
      let calls = 0;
      const failing = async (texts: string[], signal?: AbortSignal) => {
        if (++calls === 1) {
          abort.abort(); // SIGTERM arrives just as a batch fails for good
          throw new Error("embedding refused the batch");
        }
        return model.embed(texts, signal);
      };
      await expect(runShardInProcess(shardConfig(document), failing, abort.signal)).rejects.toThrow(
        "embedding refused the batch",
      );
      const rerun = await runShardInProcess(shardConfig(document), model.embed);
      expect(rerun).toMatchObject({ outcome: "done", resumed: true, state: { attempt: 2 } });
      const ids = Array.from({ length: 120 }, (_, id) => `job-${id}`);
      const stored = await readBack(target.store, ids);
      const missing = ids.filter(
        (id, index) => stored.get(id)!.meta?.contentHash !== renderJob(jobDocument(index, 120)).hash,
      );
      expect(missing).toEqual([]);
    } finally {
      await target.drop();
    }
  });
});
