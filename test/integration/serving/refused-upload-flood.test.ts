/**
 * The rest of a refused body is read and dropped before the refusal goes out (refused-upload.test.ts),
 * but that reading has a shared budget: without one, 200 clients without a token, each sending a
 * never-ending body at full speed, had the server read ~1.8 GB for 5 s each (it read ~110 MB before
 * bodies were dropped) and slowed every authenticated call meanwhile. Beyond the budget (16 drops at
 * once, 256 MiB at once refilled at 64 MiB/s) a refusal closes its connection at once, as before.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";

const TOKEN = "refused-upload-flood-token";
const UPLOADERS = 40;
const BURST_BYTES = 256 * 1024 * 1024;
const REFILL_BYTES_PER_SECOND = 64 * 1024 * 1024;

let server: ServeProcess;
let tokenDir: string;
beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), "jude-refused-flood-"));
  await writeFile(join(tokenDir, "token"), TOKEN);
  server = await spawnServe(["--execution-provider=cpu", `--auth-token-file=${join(tokenDir, "token")}`]);
  await server.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(async () => {
  server.child.kill("SIGKILL");
  await server.exited;
  await rm(tokenDir, { recursive: true, force: true });
});

/**
 * A POST without a token whose chunked body never ends, written as fast as the connection takes it;
 * resolves once the server has closed the connection.
 */
function endlessUpload(): Promise<void> {
  const chunk = Buffer.concat([
    Buffer.from(`${(64 * 1024).toString(16)}\r\n`),
    Buffer.alloc(64 * 1024, 0x78),
    Buffer.from("\r\n"),
  ]);
  return new Promise((resolve) => {
    const socket = connect(server.httpPort, "127.0.0.1");
    const write = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on("connect", () => {
      socket.write(
        "POST /v1/embeddings HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
          'transfer-encoding: chunked\r\n\r\n10\r\n{"input":"xxxxxx\r\n',
      );
      write();
    });
    socket.on("drain", write);
    socket.on("error", () => socket.destroy());
    socket.on("end", () => socket.destroy());
    socket.on("close", () => resolve());
    socket.resume(); // the answer, if any, is not looked at
  });
}

const metrics = async (): Promise<string> =>
  (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();

/** The sum of a metric over its labels; undefined when the exposition has no sample of it. */
function metricSum(exposition: string, name: string): number | undefined {
  const samples = exposition
    .split("\n")
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
  return samples.length === 0
    ? undefined
    : samples.reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

it("stops reading the bodies of many refused uploads beyond a shared budget, closing their connections", async () => {
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: UPLOADERS }, () => endlessUpload()));
  const exposition = await metrics();
  const seconds = (performance.now() - startedAt) / 1000;
  // Some drops were cut short (or never begun): 40 endless bodies at once are beyond 16 at once.
  expect(metricSum(exposition, "jude_serving_http_refused_body_drops_cut_total")).toBeGreaterThan(0);
  // What was read and dropped is within the budget: the burst plus its refill over the test's time.
  const dropped = metricSum(exposition, "jude_serving_http_refused_body_dropped_bytes_total");
  expect(dropped).toBeDefined();
  expect(dropped!).toBeLessThanOrEqual(BURST_BYTES + REFILL_BYTES_PER_SECOND * seconds);
});

it("serves an authenticated call after the flood", async () => {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ input: "hello" }),
  });
  expect(response.status).toBe(200);
});
