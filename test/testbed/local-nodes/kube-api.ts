// A small JSON client of the testbed's API server for the agent: requests and watches with the admin
// client certificate. The agent needs a handful of verbs; a direct client keeps its behaviour visible.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { createInterface } from "node:readline";

/** Where the API server is and the TLS files that authenticate the agent. */
export interface ApiEndpoint {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

/** An API error with its HTTP status, so callers can treat 404 and 409 as the answers they are. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One event of a watch stream. */
export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Requests and watches against one API server. */
export class KubeApi {
  readonly #endpoint: ApiEndpoint;
  readonly #agent: Agent;

  constructor(endpoint: ApiEndpoint) {
    this.#endpoint = endpoint;
    this.#agent = new Agent({
      keepAlive: true,
      ca: readFileSync(endpoint.ca),
      cert: readFileSync(endpoint.cert),
      key: readFileSync(endpoint.key),
    });
  }

  /** Sends one request; resolves the parsed body, rejects with ApiError on a non-2xx status. */
  async send<T>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolveBody, reject) => {
      const req = request(
        new URL(path, this.#endpoint.server),
        {
          method,
          agent: this.#agent,
          timeout: 30_000,
          headers: {
            accept: "application/json",
            // An explicit length: Node sends a DELETE body neither chunked nor sized otherwise, and the
            // server would read it as the start of the next request on the kept-alive connection.
            ...(payload === undefined
              ? {}
              : { "content-type": contentType, "content-length": Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolveBody((text === "" ? {} : JSON.parse(text)) as T);
              return;
            }
            let message = text;
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? text;
            } catch {
              // Not JSON: keep the raw text.
            }
            reject(new ApiError(status, `${method} ${path}: ${status} ${message}`));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** GET that resolves undefined for 404. */
  async get<T>(path: string): Promise<T | undefined> {
    try {
      return await this.send<T>("GET", path);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** JSON merge patch (arrays are replaced whole, which is what status writes want). */
  async mergePatch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("PATCH", path, body, "application/merge-patch+json");
  }

  /**
   * Streams watch events of `path` from `resourceVersion` until the server ends the stream or
   * `signal` aborts; resolves then (the caller relists and watches again).
   */
  async watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const separator = path.includes("?") ? "&" : "?";
    const url = new URL(
      `${path}${separator}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&timeoutSeconds=300`,
      this.#endpoint.server,
    );
    await new Promise<void>((done, reject) => {
      const req = request(url, { method: "GET", agent: this.#agent, signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new ApiError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode}`));
          return;
        }
        const lines = createInterface({ input: res });
        lines.on("line", (line) => {
          if (line.trim() !== "") onEvent(JSON.parse(line) as WatchEvent<T>);
        });
        lines.on("close", () => done());
        // An aborted or broken stream ends the watch; the caller relists or stops.
        lines.on("error", () => done());
        res.on("error", () => done());
      });
      req.on("error", (error) => (signal.aborted ? done() : reject(error)));
      req.end();
    });
  }
}
