/**
 * Streams the lines of a JSON-lines file from `file:///path` or `https://host/path` (undici), starting
 * at a byte position so a resumed shard continues where its checkpoint says instead of re-reading the
 * file. For https the position is sent as a `Range` request; a server that ignores it (200) is read
 * from the start and the first bytes are skipped. Lines are yielded as bytes with the position just
 * after them; decoding is the pipeline's job.
 *
 * Failures while opening (connection refused, 5xx) are retried; a failure in the middle of a body
 * propagates, and the restarted shard resumes from its last checkpoint.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Agent, request, type Dispatcher } from "undici";
import { retry } from "../../plumbing/retry.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

/** One line of a file. */
export interface SourceLine {
  /** The line's bytes (empty for a line over maxLineBytes, which is not kept). */
  readonly value: Buffer;
  /** Byte position just after this line's newline: where a resume continues. */
  readonly end: number;
  /** Set for a line longer than maxLineBytes: its length in bytes. */
  readonly tooLong?: number;
}

/**
 * The longest line a shard holds in memory. One JSON record per line is far shorter; a longer "line"
 * is a file in another format (one JSON document over many megabytes, no newlines at all), which would
 * otherwise be buffered whole until the pod is killed for memory without saying why.
 */
export const maxLineBytes = 16 * 1024 * 1024;

/** An opened file: its size when known, and its lines from the requested position. */
export interface OpenedFile {
  readonly totalBytes: number | undefined;
  readonly lines: AsyncGenerator<SourceLine[]>;
}

/** Options for https:// files. */
export interface JsonlSourceOptions {
  /** PEM CA bundle trusted instead of the system roots (an internal CA). */
  readonly ca?: string | Buffer;
  readonly signal?: AbortSignal;
  readonly onRetry?: (error: unknown) => void;
}

class HttpStatusError extends Error {
  readonly statusCode: number;
  constructor(uri: string, statusCode: number) {
    super(`GET ${uri} answered HTTP ${statusCode}`);
    this.statusCode = statusCode;
  }
}

/** Opens `uri` at byte `position`. */
export async function openJsonl(
  uri: string,
  position: number,
  options: JsonlSourceOptions = {},
): Promise<OpenedFile> {
  if (uri.startsWith("file://")) {
    const path = fileURLToPath(uri);
    const { size } = await stat(path);
    const start = Math.min(position, size);
    return { totalBytes: size, lines: splitLines(createReadStream(path, { start }), start, 0) };
  }
  if (!uri.startsWith("https://"))
    throw new PipelineError(
      PipelineErrorCodes.UNSUPPORTED_SOURCE,
      `unsupported URI ${uri}: use file:/// or https://`,
    );
  const dispatcher: Dispatcher | undefined =
    options.ca !== undefined ? new Agent({ connect: { ca: options.ca } }) : undefined;
  const response = await retry(
    async () => {
      const answer = await request(uri, {
        method: "GET",
        headers: position > 0 ? { range: `bytes=${position}-` } : {},
        ...(dispatcher ? { dispatcher } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (answer.statusCode === 200 || answer.statusCode === 206 || answer.statusCode === 416) return answer;
      await answer.body.dump();
      throw new HttpStatusError(uri, answer.statusCode);
    },
    {
      isRetryable: (error) =>
        error instanceof HttpStatusError
          ? error.statusCode >= 500 || error.statusCode === 429
          : isNetworkError(error),
      onRetry: options.onRetry,
      signal: options.signal,
    },
  );
  const length = Number(response.headers["content-length"] ?? Number.NaN);
  if (response.statusCode === 416) {
    // Nothing at or after `position`: the file was finished before.
    await response.body.dump();
    return { totalBytes: position, lines: splitLines([], position, 0) };
  }
  if (response.statusCode === 206) {
    const range = /\/(\d+)$/.exec(String(response.headers["content-range"] ?? ""));
    const total = range?.[1] !== undefined ? Number(range[1]) : undefined;
    return { totalBytes: total, lines: splitLines(response.body, position, 0) };
  }
  return {
    totalBytes: Number.isFinite(length) ? length : undefined,
    lines: splitLines(response.body, 0, position),
  };
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_)/.test(code)
  );
}

/**
 * Splits a byte stream that starts at byte `start` of the file into lines, dropping the first `skip`
 * bytes; blank lines advance the position but are not yielded. Yields one array per chunk.
 *
 * A line that spans chunks is kept as a list of chunk slices and joined once, when its newline
 * arrives, and each chunk is searched for a newline only once: re-joining the partial line with every
 * chunk would copy and rescan it once per chunk, quadratic in its length (a 50 MB single line read in
 * 64 KiB chunks would copy ~20 GB).
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer>,
  start: number,
  skip: number,
  maxBytes = maxLineBytes,
): AsyncGenerator<SourceLine[]> {
  let position = start;
  let toSkip = skip;
  // The current line's bytes so far (slices of earlier chunks, in order), not yet ended by a newline;
  // once they pass maxBytes they are let go and only counted (partial stays empty, overlong true).
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let overlong = false;
  for await (const raw of chunks) {
    let chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
    if (toSkip > 0) {
      const dropped = Math.min(toSkip, chunk.length);
      chunk = chunk.subarray(dropped);
      toSkip -= dropped;
      position += dropped;
    }
    if (chunk.length === 0) continue;
    const lines: SourceLine[] = [];
    let lineStart = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, lineStart)) {
      const tail = chunk.subarray(lineStart, newline);
      const length = partialBytes + tail.length;
      position += length + 1;
      lineStart = newline + 1;
      if (overlong || length > maxBytes) {
        lines.push({ value: Buffer.alloc(0), end: position, tooLong: length });
      } else {
        const value = partialBytes > 0 ? Buffer.concat([...partial, tail], length) : tail;
        if (!isBlank(value)) lines.push({ value, end: position });
      }
      partial = [];
      partialBytes = 0;
      overlong = false;
    }
    if (lineStart < chunk.length) {
      partialBytes += chunk.length - lineStart;
      if (partialBytes > maxBytes) {
        partial = [];
        overlong = true;
      } else partial.push(chunk.subarray(lineStart));
    }
    if (lines.length > 0) yield lines;
  }
  if (overlong) yield [{ value: Buffer.alloc(0), end: position + partialBytes, tooLong: partialBytes }];
  else if (partialBytes > 0) {
    const value = partial.length === 1 ? partial[0]! : Buffer.concat(partial, partialBytes);
    if (!isBlank(value)) yield [{ value, end: position + partialBytes }];
  }
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}
