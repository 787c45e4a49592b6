/** Request bodies (size limit and a shared byte budget) and JSON / text answers of the HTTP side. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { isServingError, servingErrors } from "../core/errors.ts";
import type { DropBudget } from "./drop-budget.ts";
import { encodeJson } from "./json-body.ts";

/** Bytes held for one request's body; `release` gives them back to the budget. */
export interface Reservation {
  /** Adds bytes; throws OVERLOADED when the budget is spent. */
  grow(bytes: number): void;
  release(): void;
}

/**
 * Bytes of request bodies held at once, across all requests. Bodies are buffered before their inputs
 * can be counted against the permits, so their bytes have a budget of their own: many slow uploads
 * cannot pile up memory.
 */
export class BodyBudget {
  readonly #limit: number;
  #used = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  reservation(): Reservation {
    let held = 0;
    return {
      grow: (bytes) => {
        if (this.#used + bytes > this.#limit) throw servingErrors.overloadedBodies(this.#limit);
        this.#used += bytes;
        held += bytes;
      },
      release: () => {
        this.#used -= held;
        held = 0;
      },
    };
  }
}

/**
 * Reads a body of at most `limit` bytes; MESSAGE_TOO_LARGE beyond it, UNSUPPORTED_ENCODING (415) for
 * a compressed one (its bytes would otherwise be refused as "not UTF-8", which misleads), CANCELLED
 * for one that never arrives whole. A body refused is left partly unread: the refusal drops the rest
 * before it is sent (see dropUnreadBody). `beforeRead` runs once the headers are found acceptable,
 * just before the body is read (it sends "100 Continue" to a client that waits for one).
 */
export async function readBody(
  request: IncomingMessage,
  limit: number,
  reservation: Reservation,
  beforeRead?: () => void,
): Promise<Buffer> {
  const encoding = request.headers["content-encoding"]?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== "" && encoding !== "identity") {
    throw servingErrors.unsupportedEncoding(encoding);
  }
  const declared = Number(request.headers["content-length"] ?? Number.NaN);
  if (declared > limit) throw servingErrors.messageTooLarge(declared, limit);
  beforeRead?.();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // Not destroyed on an early exit: the rest of a refused body is dropped (see dropUnreadBody).
    for await (const chunk of request.iterator({ destroyOnReturn: false })) {
      size += (chunk as Buffer).length;
      if (size > limit) break;
      reservation.grow((chunk as Buffer).length);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (isServingError(error)) throw error;
    // The connection closed before the body was whole ("aborted"): the client left, or Node cut a
    // body slower than httpRequestTimeoutMs (408). The caller's doing, not a server failure.
    throw servingErrors.cancelled(error);
  }
  if (size > limit) throw servingErrors.messageTooLarge(size, limit);
  return Buffer.concat(chunks);
}

/** The longest the rest of a refused request's body is read and dropped before the refusal is sent. */
const REFUSED_BODY_DROP_MS = 5_000;

/**
 * Reads and drops what is left of a refused request's body, until it has all arrived, the connection
 * closes, or 5 s pass; the refusal goes out after it. Answering and closing with the body unread
 * makes the kernel reset the connection, and a client still writing its body (Node's fetch, which
 * reads the answer only once its body is written) then reports a failed write ("EPIPE",
 * "ECONNRESET"), not the 413, 401, 415, 429 or 503. The bytes count against no body budget: they are
 * not kept. A client still sending after 5 s has its connection closed, as before (nginx's lingering
 * close bounds the same wait). Not for a client that sent `Expect: 100-continue` and was not told
 * to continue: it sends no body. `stop` ends the wait early: the listener's close, whose deadline
 * is shorter. `budget`, shared by all connections, bounds the drops at once and the bytes dropped:
 * beyond it the drop stops (or never begins) and the refusal closes the connection at once.
 */
export async function dropUnreadBody(
  request: IncomingMessage,
  stop?: AbortSignal,
  budget?: DropBudget,
): Promise<void> {
  if (request.complete || request.destroyed || stop?.aborted) return;
  const permit = budget?.acquire();
  if (budget !== undefined && permit === undefined) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      request.off("data", dropped).off("end", done).off("close", done).off("error", done);
      stop?.removeEventListener("abort", done);
      permit?.release();
      resolve();
    };
    // Over the budget: no more is read (the refusal, sent with the body unread, closes the connection).
    const dropped = (chunk: Buffer): void => {
      if (permit !== undefined && !permit.take(chunk.length)) {
        request.pause();
        done();
      }
    };
    const timer = setTimeout(done, REFUSED_BODY_DROP_MS);
    request.on("end", done).on("close", done).on("error", done);
    stop?.addEventListener("abort", done, { once: true });
    // No effect while the route still reads the body (its 'readable' listener): that read consumes it.
    request.on("data", dropped);
  });
}

// Fatal: Buffer#toString would turn invalid bytes into U+FFFD, which the tokenizer then drops, so a
// Latin-1 "café" would be embedded as "caf" without a word. RFC 8259 requires UTF-8 JSON.
const utf8 = new TextDecoder("utf-8", { fatal: true });

// A JSON escape of a UTF-16 surrogate, "\ud800" to "\udfff". Encoders that write ASCII only (Python's
// json.dumps by default, so `requests`' json=) write characters beyond U+FFFF as a pair of them.
const surrogateEscape = /\\u[dD][89a-fA-F]/;

/**
 * Parses a JSON body; MALFORMED_REQUEST when it is not UTF-8, not JSON, or holds a string with an
 * unpaired surrogate escape ("\udce9"): JSON.parse accepts one, but no UTF-8 can encode it (gRPC's
 * strings cannot hold one), and the tokenizer would drop it as a control character and embed the rest
 * as a success. Python's `surrogateescape` decoding turns a Latin-1 byte into such a surrogate, so
 * this is the Latin-1 "café" that a body which is not UTF-8 is refused for, by another way.
 */
export function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (error) {
    throw servingErrors.malformedRequest("the body is not valid UTF-8 (JSON must be UTF-8 encoded)", error);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw servingErrors.malformedRequest(`the body is not valid JSON (${(error as Error).message})`, error);
  }
  // Only a body with a surrogate escape can hold an unpaired surrogate: the UTF-8 decoder refuses
  // encoded surrogates, so most bodies are not walked at all.
  if (surrogateEscape.test(text)) {
    const unpaired = findUnpairedSurrogate(document);
    if (unpaired !== undefined) {
      throw servingErrors.malformedRequest(
        `${unpaired.where} holds an unpaired surrogate (\\u${unpaired.codeUnit.toString(16).padStart(4, "0")}): ` +
          "text must be Unicode, as UTF-8 can encode it",
        undefined,
        unpaired.param,
      );
    }
  }
  return document;
}

/**
 * The first string (or object key) of a parsed document that is not well-formed UTF-16, with its
 * path (`inputs.1`, `a key of extra`) and its lone surrogate. Iterative: a document may nest deeply.
 */
function findUnpairedSurrogate(
  document: unknown,
): { where: string; param: string | undefined; codeUnit: number } | undefined {
  interface Node {
    value: unknown;
    parent: Node | undefined;
    key: string;
  }
  const pathOf = (node: Node | undefined): string => {
    const keys: string[] = [];
    for (let at = node; at?.parent !== undefined; at = at.parent) keys.push(at.key);
    return keys.reverse().join(".");
  };
  // The body's top-level field the node is in (OpenAI's `param`), when the body is an object.
  const paramOf = (node: Node | undefined): string | undefined => {
    let at = node;
    while (at?.parent?.parent !== undefined) at = at.parent;
    return at?.parent !== undefined && !Array.isArray(document) ? at.key : undefined;
  };
  const found = (text: string, where: string, node: Node | undefined) => ({
    where,
    param: paramOf(node),
    codeUnit: loneSurrogate(text),
  });
  const stack: Node[] = [{ value: document, parent: undefined, key: "" }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const { value } = node;
    if (typeof value === "string") {
      if (!value.isWellFormed()) return found(value, pathOf(node) || "the body", node);
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--)
        stack.push({ value: value[index], parent: node, key: String(index) });
    } else if (typeof value === "object" && value !== null) {
      const keys = Object.keys(value);
      for (const key of keys) {
        if (!key.isWellFormed()) return found(key, `a key of ${pathOf(node) || "the body"}`, node);
      }
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index]!;
        stack.push({ value: (value as Record<string, unknown>)[key], parent: node, key });
      }
    }
  }
  return undefined;
}

/** The first code unit of `text` that is a surrogate without its other half. */
function loneSurrogate(text: string): number {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(index + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index++;
    else return unit;
  }
  return 0xfffd; // not reached for a string that is not well-formed
}

/** Answers with a JSON body; float vectors in it (`Float32Array`) are written as number arrays (see encodeJson). */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = encodeJson(body);
  response.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": payload.length,
  });
  response.end(payload);
}

/** Answers with a plain-text body. */
export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}

/** zod says "expected int, received number" of 2.5; this says what is wanted (a zod `error`). */
export const wholeNumberRefusal = (issue: { input?: unknown }): string =>
  `must be a whole number, got ${String(issue.input)}`;

/** Validates a parsed body against a schema; MALFORMED_REQUEST naming the first bad field. */
export function parseRequest<T>(schema: z.ZodType<T>, document: unknown): T {
  const parsed = schema.safeParse(document);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join(".") : "body";
  const field = issue?.path[0];
  throw servingErrors.malformedRequest(
    `${where}: ${issue?.message ?? "invalid"}`,
    parsed.error,
    typeof field === "string" ? field : undefined,
  );
}
