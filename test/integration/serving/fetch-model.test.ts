/**
 * `jude fetch-model`, the init-container step: file:// and https:// (a local HTTPS server with a
 * self-signed certificate), resuming after a dropped connection and after a restart, digest
 * verification, unpacking a model directory that the server then serves.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { fetchModel } from "../../../serving/fetch-model/fetch.ts";
import { digestMismatchExitCode } from "../../../serving/fetch-model/errors.ts";
import { EXIT_INTERRUPTED } from "../../../serving/fetch-model/main.ts";
import { waitFor } from "../../testbed/wait.ts";
import { cosine, modelDir, readReference, repoRoot, selfSignedCertificate, startServer } from "./helpers.ts";

const execFileAsync = promisify(execFile);
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

let work: string;
let archive: Buffer;
let ca: Buffer;
let https: Server;
let baseUrl: string;
const requests: Array<{ path: string; range: string | undefined }> = [];
/** When set, the next full (non-range) download is cut off after this many bytes. */
let cutNextAt: number | undefined;
/** When set, the next full download stops sending after this many bytes and keeps the connection. */
let stallNextAt: number | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "jude-fetch-"));
  // A model directory as an operator would publish it: int8 weights, tokenizer, manifest.
  const source = join(work, "published");
  await mkdir(source);
  await copyFile(join(modelDir(), "model.int8.onnx"), join(source, "model.int8.onnx"));
  await copyFile(join(modelDir(), "tokenizer.json"), join(source, "tokenizer.json"));
  await writeFile(
    join(source, "jude-model.json"),
    JSON.stringify({
      name: "all-MiniLM-L6-v2",
      dimensions: 384,
      maxSequenceLength: 256,
      files: { int8: "model.int8.onnx" },
    }),
  );
  await execFileAsync("tar", ["czf", join(work, "model.tgz"), "-C", source, "."]);
  archive = await readFile(join(work, "model.tgz"));

  const { cert, key } = await selfSignedCertificate(work);
  ca = await readFile(cert);
  https = createServer({ cert: await readFile(cert), key: await readFile(key) }, (request, response) => {
    const range = request.headers.range;
    requests.push({ path: request.url ?? "", range });
    // Like an object store, the query (a signature) is not part of the object's name.
    if (new URL(request.url ?? "/", "https://localhost").pathname !== "/models/model.tgz") {
      response.writeHead(404).end();
      return;
    }
    const start = range === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(range)?.[1]);
    if (range !== undefined) {
      response.writeHead(206, {
        "content-length": archive.length - start,
        "content-range": `bytes ${start}-${archive.length - 1}/${archive.length}`,
      });
      response.end(archive.subarray(start));
      return;
    }
    response.writeHead(200, { "content-length": archive.length });
    if (stallNextAt !== undefined) {
      response.write(archive.subarray(0, stallNextAt));
      stallNextAt = undefined;
      return;
    }
    if (cutNextAt !== undefined) {
      const cut = cutNextAt;
      cutNextAt = undefined;
      // Flush part of the body, then drop the connection like a failing proxy would.
      response.write(archive.subarray(0, cut), () => response.socket?.destroy());
      return;
    }
    response.end(archive);
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  baseUrl = `https://localhost:${(https.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      https.close(() => resolve());
      https.closeAllConnections();
    }),
);

describe("file://", () => {
  it("copies and verifies a single file, and does nothing the second time", async () => {
    const source = join(modelDir(), "tokenizer.json");
    const bytes = await readFile(source);
    const dest = join(work, "file-dest", "tokenizer.json");
    await mkdir(join(work, "file-dest"));
    const first = await fetchModel({ uri: `file://${source}`, sha256: sha256(bytes), dest });
    expect(first).toMatchObject({ cached: false, extracted: false, bytes: bytes.length });
    expect(sha256(await readFile(dest))).toBe(sha256(bytes));
    expect(await fetchModel({ uri: `file://${source}`, sha256: sha256(bytes), dest })).toMatchObject({
      cached: true,
    });
  });

  it("resumes a partial file left by an earlier, killed container", async () => {
    const dest = join(work, "file-resume", "model");
    await mkdir(join(work, "file-resume"));
    await writeFile(`${dest}.partial`, archive.subarray(0, 1_000_000));
    const result = await fetchModel({
      uri: `file://${join(work, "model.tgz")}`,
      sha256: sha256(archive),
      dest,
    });
    expect(result).toMatchObject({ resumedFrom: 1_000_000, extracted: true });
    expect(existsSync(join(dest, "model.int8.onnx"))).toBe(true);
  });

  it("unpacks into an existing directory (a pod's model volume) without writing beside it", async () => {
    // In a pod, --dest is the volume's mount point: its parent is the read-only root filesystem and
    // the mount point itself cannot be removed or renamed onto.
    const parent = join(work, "volume-parent");
    const dest = join(parent, "models");
    await mkdir(dest, { recursive: true });
    await writeFile(join(dest, "tokenizer.json"), "an earlier model's");
    await mkdir(join(dest, "lost+found")); // a claim's root
    const uri = `file://${join(work, "model.tgz")}`;
    expect(await fetchModel({ uri, sha256: sha256(archive), dest })).toMatchObject({ extracted: true });
    expect(await readdir(parent)).toEqual(["models"]);
    expect((await readdir(dest)).filter((name) => !name.startsWith(".")).sort()).toEqual([
      "jude-model.json",
      "lost+found",
      "model.int8.onnx",
      "tokenizer.json",
    ]);
    expect(await readFile(join(dest, "tokenizer.json"))).toEqual(
      await readFile(join(modelDir(), "tokenizer.json")),
    );
    expect(await fetchModel({ uri, sha256: sha256(archive), dest })).toMatchObject({ cached: true });
    await expect(
      fetchModel({ uri, sha256: sha256(archive), dest: parent, extract: "never" }),
    ).rejects.toThrow(/is a directory: only a tar or tar.gz archive unpacks into it/);
  });
});

describe("https://", () => {
  it("resumes with a range request after the connection drops, unpacks, and the server serves the result", async () => {
    const dest = join(work, "https-dest", "v1");
    await mkdir(join(work, "https-dest"));
    requests.length = 0;
    cutNextAt = Math.floor(archive.length / 3);
    const result = await fetchModel({
      uri: `${baseUrl}/models/model.tgz`,
      sha256: sha256(archive),
      dest,
      ca,
      retryDelayMs: 10,
    });
    expect(result).toMatchObject({ cached: false, extracted: true, bytes: archive.length });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(requests[0]?.range).toBeUndefined();
    expect(requests.at(-1)?.range).toBe(`bytes=${result.resumedFrom}-`);
    expect(existsSync(`${dest}.partial`)).toBe(false);

    const server = await startServer({ modelDir: dest, model: { precision: "int8" } });
    const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
    try {
      const item = (await readReference()).items[0]!;
      const answer = await client.embed([item.text]);
      expect(cosine(answer.vectors[0]!, item.embedding)).toBeGreaterThan(0.95);
    } finally {
      client.close();
      await server.close();
    }
  });

  it("discards a download whose digest does not match", async () => {
    const dest = join(work, "https-mismatch");
    const wrong = "0".repeat(64);
    await expect(
      fetchModel({ uri: `${baseUrl}/models/model.tgz`, sha256: wrong, dest, ca }),
    ).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringContaining(`expected ${wrong}, got ${sha256(archive)}`),
    });
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.partial`)).toBe(false);
  });

  it("reports a missing artifact and an unsupported scheme clearly, without retrying", async () => {
    requests.length = 0;
    await expect(
      fetchModel({
        uri: `${baseUrl}/models/nope.tgz?signature=secret`,
        sha256: sha256(archive),
        dest: join(work, "x"),
        ca,
      }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: `${baseUrl}/models/nope.tgz was not found (HTTP 404)`,
    });
    expect(requests).toHaveLength(1);
    await expect(
      fetchModel({ uri: "s3://bucket/model.tgz", sha256: sha256(archive), dest: join(work, "y") }),
    ).rejects.toMatchObject({
      code: "UNSUPPORTED_URI",
      message: 'unsupported URI scheme "s3:" in s3://bucket/model.tgz; use https:// or file://',
    });
  });

  it("fails at once with LOCAL_WRITE on a read-only destination, without retrying the download", async () => {
    const readOnly = join(work, "read-only");
    await mkdir(readOnly);
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "jude-fetch-ro", readOnly]);
    try {
      requests.length = 0;
      await expect(
        fetchModel({
          uri: `${baseUrl}/models/model.tgz`,
          sha256: sha256(archive),
          dest: readOnly,
          ca,
          retryDelayMs: 10,
        }),
      ).rejects.toMatchObject({
        code: "LOCAL_WRITE",
        message: expect.stringMatching(/^cannot write \S+: .*\(EROFS: check the destination volume's space/),
      });
      expect(requests).toHaveLength(1);
    } finally {
      await execFileAsync("umount", [readOnly]);
    }
  });

  it("runs as `jude fetch-model`, exiting 3 with the reason on a digest mismatch and 0 on success", async () => {
    const caFile = join(work, "ca.pem");
    await writeFile(caFile, ca);
    const run = (sha: string, dest: string) =>
      execFileAsync(
        process.execPath,
        [
          "cli/jude.ts",
          "fetch-model",
          `--uri=${baseUrl}/models/model.tgz`,
          `--sha256=sha256:${sha}`,
          `--dest=${dest}`,
          `--ca-file=${caFile}`,
        ],
        { cwd: repoRoot },
      ).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
    const failed = await run("f".repeat(64), join(work, "cli-bad"));
    expect(failed.code).toBe(digestMismatchExitCode);
    expect(failed.stdout).toContain('"code":"DIGEST_MISMATCH"');
    const succeeded = await run(sha256(archive), join(work, "cli-good"));
    expect(succeeded.code).toBe(0);
    expect(existsSync(join(work, "cli-good", "tokenizer.json"))).toBe(true);
  });

  it("stops on SIGTERM mid-download, exiting 75 with the partial file kept for the next start", async () => {
    const caFile = join(work, "ca-stop.pem");
    await writeFile(caFile, ca);
    const dest = join(work, "cli-stopped");
    stallNextAt = 100_000;
    const child = spawn(
      process.execPath,
      [
        "cli/jude.ts",
        "fetch-model",
        `--uri=${baseUrl}/models/model.tgz`,
        `--sha256=${sha256(archive)}`,
        `--dest=${dest}`,
        `--ca-file=${caFile}`,
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitFor(
      "the download to reach the stalled server's 100,000 bytes",
      async () =>
        (await stat(`${dest}.partial`).then(
          (file) => file.size,
          () => 0,
        )) === 100_000,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(EXIT_INTERRUPTED);
    expect(stdout).toContain("stopped by SIGTERM; the next start resumes the download");
    expect((await stat(`${dest}.partial`)).size).toBe(100_000);
  });

  it("downloads a signed URL from --uri-env and never prints its query or user:password", async () => {
    const caFile = join(work, "ca-signed.pem");
    await writeFile(caFile, ca);
    const signed = `${baseUrl}/models/model.tgz?X-Amz-Credential=AKIASECRETKEYID&X-Amz-Signature=sigsecretsig`;
    const run = (args: string[], env: Record<string, string> = {}) =>
      execFileAsync(process.execPath, ["cli/jude.ts", "fetch-model", `--ca-file=${caFile}`, ...args], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
      }).then(
        ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({
          code: error.code,
          output: error.stdout + error.stderr,
        }),
      );
    const secrets = /AKIASECRETKEYID|sigsecretsig|pwsecretpw/;

    requests.length = 0;
    const fetched = await run(
      [
        `--uri=${baseUrl}/models/model.tgz`,
        "--uri-env=JUDE_MODEL_URI",
        `--sha256=${sha256(archive)}`,
        `--dest=${join(work, "signed-good")}`,
      ],
      { JUDE_MODEL_URI: signed },
    );
    expect(fetched.code, fetched.output).toBe(0);
    expect(requests.at(-1)?.path).toContain("X-Amz-Signature=sigsecretsig");
    expect(existsSync(join(work, "signed-good", "tokenizer.json"))).toBe(true);
    expect(fetched.output).not.toMatch(secrets);

    // Failures: a digest mismatch, URLs Node cannot parse or fetch-model cannot read, a Secret URL
    // naming another artifact than --uri, and an unset variable. Each is said clearly, never quoted.
    const failures: { args: string[]; env: Record<string, string>; code: number; says: string }[] = [
      {
        args: ["--uri-env=JUDE_MODEL_URI", `--sha256=${"f".repeat(64)}`],
        env: { JUDE_MODEL_URI: signed },
        code: digestMismatchExitCode,
        says: `sha256 mismatch for ${baseUrl}/models/model.tgz?…`,
      },
      {
        args: ["--uri-env=JUDE_MODEL_URI", `--sha256=${sha256(archive)}`],
        env: { JUDE_MODEL_URI: "https://user:pwsecretpw@localhost:99999/m.onnx?sig=sigsecretsig" },
        code: 1,
        says: "the artifact URI is not a valid URI",
      },
      {
        args: [`--uri=ftp://user:pwsecretpw@host/m.onnx?sig=sigsecretsig`, `--sha256=${sha256(archive)}`],
        env: {},
        code: 1,
        says: "in ftp://host/m.onnx?…; use https:// or file://",
      },
      {
        args: [
          `--uri=${baseUrl}/models/other.tgz`,
          "--uri-env=JUDE_MODEL_URI",
          `--sha256=${sha256(archive)}`,
        ],
        env: { JUDE_MODEL_URI: signed },
        code: 2,
        says: `names ${baseUrl}/models/model.tgz?…, not ${baseUrl}/models/other.tgz (--uri)`,
      },
      {
        args: ["--uri-env=JUDE_MODEL_URI", `--sha256=${sha256(archive)}`],
        env: { JUDE_MODEL_URI: "" },
        code: 2,
        says: "environment variable JUDE_MODEL_URI (--uri-env) is not set or empty",
      },
    ];
    for (const [index, failure] of failures.entries()) {
      const result = await run(
        [...failure.args, `--dest=${join(work, `signed-bad-${index}`)}`, "--retries=0"],
        failure.env,
      );
      expect(result.code, result.output).toBe(failure.code);
      expect(result.output).toContain(failure.says);
      expect(result.output).not.toMatch(secrets);
    }
  });
});
