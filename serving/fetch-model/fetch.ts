/** Downloads a model artifact with resume and retries, verifies its sha256, unpacks archives. */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { waitBeforeRetry } from "../../plumbing/retry.ts";
import { FetchModelError, localWriteError } from "./errors.ts";
import { redactUri } from "./redact.ts";
import { openSource, type HttpSourceOptions } from "./sources.ts";
import { extractTar, looksLikeTar } from "./tar.ts";

/** What to fetch and where. */
export interface FetchModelOptions extends HttpSourceOptions {
  uri: string;
  /** Expected sha256 of the artifact, lowercase hex. */
  sha256: string;
  /** The file (or, for a tar / tar.gz artifact, the directory) to create. */
  dest: string;
  /** Tar archives are unpacked into `dest` unless this is "never". */
  extract?: "auto" | "never";
  /** Attempts after the first for retryable failures; each resumes where the last stopped. */
  retries?: number;
  /** First backoff; doubles per attempt, capped at 30 s. */
  retryDelayMs?: number;
  onProgress?: (event: FetchProgress) => void;
  /** Stops the download (SIGTERM); the partial file stays for the next run to resume. */
  signal?: AbortSignal;
}

/** Progress events, for logs. */
export type FetchProgress =
  | { type: "cached"; dest: string }
  | { type: "resuming"; offset: number }
  | { type: "retrying"; attempt: number; error: FetchModelError }
  | { type: "downloaded"; bytes: number; resumedFrom: number }
  | { type: "extracted"; files: number };

/** The outcome of a fetch. */
export interface FetchModelResult {
  dest: string;
  /** True when `dest` already held this digest and nothing was downloaded. */
  cached: boolean;
  bytes: number;
  /** The largest offset a download resumed from (0 when it never resumed). */
  resumedFrom: number;
  extracted: boolean;
}

/**
 * Fills a model volume (the init-container step): downloads into `<dest>.partial`, resuming with
 * HTTP range requests after interruptions (and across container restarts), verifies the sha256,
 * then atomically renames the file — or unpacks a tar / tar.gz — into `dest`. A digest marker next
 * to `dest` makes a second run with the same digest a no-op, so a restarted pod does not download
 * again. When `dest` is an existing directory (in a pod, the model volume's mount point, whose parent
 * is the read-only root filesystem and which no rename can replace), these working files sit inside
 * it and an archive's entries are moved into it, replacing those of the same name.
 */
export async function fetchModel(options: FetchModelOptions): Promise<FetchModelResult> {
  const expected = options.sha256.toLowerCase();
  const { intoDirectory, partial, marker, staging } = await workingPaths(options.dest);
  if ((await readMarker(marker)) === expected && (await exists(options.dest))) {
    options.onProgress?.({ type: "cached", dest: options.dest });
    return { dest: options.dest, cached: true, bytes: 0, resumedFrom: 0, extracted: false };
  }
  if (intoDirectory && options.extract === "never") throw notUnpackable(options.dest);
  let { digest, bytes, resumedFrom } = await downloadWithRetries(options, partial);
  if (digest !== expected && resumedFrom > 0) {
    // A stale partial file from an earlier, different artifact can poison a resume: start clean once.
    await rm(partial, { force: true });
    ({ digest, bytes, resumedFrom } = await downloadWithRetries(options, partial));
  }
  if (digest !== expected) {
    await rm(partial, { force: true });
    throw new FetchModelError(
      "DIGEST_MISMATCH",
      `sha256 mismatch for ${redactUri(options.uri)}: expected ${expected}, got ${digest} (${bytes} bytes); the download was discarded`,
    );
  }
  const extracted = options.extract !== "never" && (await isArchive(partial));
  if (intoDirectory && !extracted) {
    await rm(partial, { force: true });
    throw notUnpackable(options.dest);
  }
  // A marker left by an earlier artifact must not vouch for a half-replaced directory.
  await rm(marker, { force: true });
  if (!intoDirectory) await rm(options.dest, { recursive: true, force: true });
  if (extracted) {
    await rm(staging, { recursive: true, force: true });
    const gzipped = (await readHead(partial, 2)).equals(Buffer.from([0x1f, 0x8b]));
    const stream = createReadStream(partial);
    const files = await extractTar(gzipped ? stream.pipe(createGunzip()) : stream, staging);
    if (intoDirectory) await moveEntries(staging, options.dest);
    else await rename(staging, options.dest);
    await rm(partial, { force: true });
    options.onProgress?.({ type: "extracted", files: files.length });
  } else {
    await rename(partial, options.dest);
  }
  await writeFile(marker, `${expected}\n`);
  return { dest: options.dest, cached: false, bytes, resumedFrom, extracted };
}

async function downloadWithRetries(
  options: FetchModelOptions,
  partial: string,
): Promise<{ digest: string; bytes: number; resumedFrom: number }> {
  const retries = options.retries ?? 5;
  let resumedFrom = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await downloadOnce(options, partial);
      resumedFrom = Math.max(resumedFrom, result.resumedFrom);
      options.onProgress?.({ type: "downloaded", bytes: result.bytes, resumedFrom });
      return { ...result, resumedFrom };
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const failure =
        error instanceof FetchModelError
          ? error
          : (localWriteError(error) ??
            new FetchModelError("NETWORK", `download interrupted: ${(error as Error).message}`, {
              cause: error,
              retryable: true,
            }));
      if (!failure.retryable || attempt >= retries) throw failure;
      options.onProgress?.({ type: "retrying", attempt: attempt + 1, error: failure });
      await waitBeforeRetry(
        { initialDelayMs: options.retryDelayMs ?? 1_000, maxDelayMs: 30_000 },
        attempt + 1,
        options.signal,
      );
    }
  }
}

/** One attempt: continue `partial` from its current size; returns the digest of the whole file. */
async function downloadOnce(
  options: FetchModelOptions,
  partial: string,
): Promise<{ digest: string; bytes: number; resumedFrom: number }> {
  const have = await sizeOf(partial);
  const source = await openSource(options.uri, have, options);
  const hash = createHash("sha256");
  if (source.offset > 0) {
    options.onProgress?.({ type: "resuming", offset: source.offset });
    await hashFile(partial, hash);
  }
  const file = await open(partial, source.offset > 0 ? "a" : "w");
  let bytes = source.offset;
  try {
    for await (const chunk of source.body ?? []) {
      options.signal?.throwIfAborted();
      hash.update(chunk);
      await file.write(chunk);
      bytes += chunk.length;
    }
  } finally {
    await file.close();
  }
  if (source.totalSize !== undefined && bytes !== source.totalSize) {
    throw new FetchModelError("NETWORK", `download ended at ${bytes} of ${source.totalSize} bytes`, {
      retryable: true,
    });
  }
  return { digest: hash.digest("hex"), bytes, resumedFrom: source.offset };
}

function notUnpackable(dest: string): FetchModelError {
  return new FetchModelError(
    "INVALID_ARCHIVE",
    `${dest} is a directory: only a tar or tar.gz archive unpacks into it; for a single file, name a file inside it as the destination`,
  );
}

/** The working files of a fetch into `dest`: next to it, or inside it when it is an existing directory. */
async function workingPaths(
  dest: string,
): Promise<{ intoDirectory: boolean; partial: string; marker: string; staging: string }> {
  const intoDirectory = await stat(dest).then(
    (found) => found.isDirectory(),
    () => false,
  );
  const base = intoDirectory ? join(dest, ".jude-fetch") : dest;
  return {
    intoDirectory,
    partial: `${base}.partial`,
    marker: `${base}.sha256`,
    staging: `${base}.extracting`,
  };
}

/**
 * Moves the entries of `staging` into `directory`, each replacing one of the same name, then removes
 * `staging`. Other entries stay: the directory may be a claim's root (lost+found) or hold more.
 */
async function moveEntries(staging: string, directory: string): Promise<void> {
  for (const name of await readdir(staging)) {
    await rm(join(directory, name), { recursive: true, force: true });
    await rename(join(staging, name), join(directory, name));
  }
  await rm(staging, { recursive: true, force: true });
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function isArchive(path: string): Promise<boolean> {
  const head = await readHead(path, 512);
  if (head[0] === 0x1f && head[1] === 0x8b) return true;
  return looksLikeTar(head);
}

async function readHead(path: string, count: number): Promise<Buffer> {
  const file = await open(path, "r");
  try {
    const buffer = Buffer.alloc(count);
    const { bytesRead } = await file.read(buffer, 0, count, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readMarker(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return undefined;
  }
}
