/** Where fetch-model reads an artifact from: file://, https:// (extra CA, bearer token) or in-cluster http://. */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Agent, interceptors, request, type Dispatcher } from "undici";
import { FetchModelError } from "./errors.ts";
import { redactUri } from "./redact.ts";

/** The bytes of an artifact from some offset on. */
export interface SourceRange {
  /** The offset the body starts at: the requested one, or 0 when the source cannot resume. */
  offset: number;
  /** Total size of the artifact when the source says so. */
  totalSize: number | undefined;
  /** Undefined when the requested offset is already the end (nothing left to read). */
  body: AsyncIterable<Uint8Array> | undefined;
}

/** How to reach https:// sources. */
export interface HttpSourceOptions {
  /** PEM CA bundle to trust besides the system CAs (a private registry or a test server). */
  ca?: Buffer;
  /** Sent as `authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Aborts the request and its body. */
  signal?: AbortSignal;
}

/** Opens an artifact at `offset`: `file://` and `https://` (and `http://`, for in-cluster mirrors). */
export async function openSource(
  uri: string,
  offset: number,
  options: HttpSourceOptions,
): Promise<SourceRange> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    // Neither the URI nor Node's error (whose `input` is the URI) is kept: it may hold a credential.
    throw new FetchModelError("UNSUPPORTED_URI", "the artifact URI is not a valid URI");
  }
  if (url.protocol === "file:") return openFile(fileURLToPath(url), offset);
  if (url.protocol === "https:" || url.protocol === "http:") return openHttp(url, offset, options);
  throw new FetchModelError(
    "UNSUPPORTED_URI",
    `unsupported URI scheme "${url.protocol}" in ${redactUri(uri)}; use https:// or file://`,
  );
}

async function openFile(path: string, offset: number): Promise<SourceRange> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    // Node's message ends with the call and the path ("…, stat '/x'"): the path is said once, first.
    const said = (error as Error).message.replace(/, \w+ '[^']*'$/, "");
    throw new FetchModelError("NOT_FOUND", `cannot read ${path}: ${said}`, { cause: error });
  }
  // A partial file longer than the source cannot be a prefix of it: start over.
  const start = offset <= size ? offset : 0;
  return {
    offset: start,
    totalSize: size,
    body: start === size ? undefined : createReadStream(path, { start }),
  };
}

const dispatchers = new Map<string, Dispatcher>();

function dispatcherFor(ca: Buffer | undefined): Dispatcher {
  const key = ca?.toString("base64") ?? "";
  let dispatcher = dispatchers.get(key);
  if (dispatcher === undefined) {
    // Object stores and model hubs answer with redirects to signed CDN URLs.
    dispatcher = new Agent(ca ? { connect: { ca } } : {}).compose(
      interceptors.redirect({ maxRedirections: 5 }),
    );
    dispatchers.set(key, dispatcher);
  }
  return dispatcher;
}

async function openHttp(url: URL, offset: number, options: HttpSourceOptions): Promise<SourceRange> {
  const headers: Record<string, string> = {};
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (options.bearerToken !== undefined) headers.authorization = `Bearer ${options.bearerToken}`;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: "GET",
      headers,
      dispatcher: dispatcherFor(options.ca),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw new FetchModelError("NETWORK", `cannot reach ${url.origin}: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  }
  const { statusCode } = response;
  if (statusCode === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(response.headers["content-range"] ?? ""));
    if (range?.[1] === undefined || Number(range[1]) !== offset) {
      await response.body.dump();
      throw new FetchModelError("HTTP_STATUS", `${url.host} answered a range request with the wrong range`, {
        retryable: true,
      });
    }
    return { offset, totalSize: range[2] === "*" ? undefined : Number(range[2]), body: response.body };
  }
  if (statusCode === 200) {
    const length = Number(response.headers["content-length"] ?? Number.NaN);
    return { offset: 0, totalSize: Number.isFinite(length) ? length : undefined, body: response.body };
  }
  await response.body.dump();
  if (statusCode === 416 && offset > 0) return { offset, totalSize: undefined, body: undefined };
  if (statusCode === 404)
    throw new FetchModelError("NOT_FOUND", `${url.origin}${url.pathname} was not found (HTTP 404)`);
  throw new FetchModelError("HTTP_STATUS", `${url.host} answered HTTP ${statusCode} for ${url.pathname}`, {
    retryable: statusCode >= 500 || statusCode === 429 || statusCode === 408,
  });
}
