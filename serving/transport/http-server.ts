import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { servingErrors } from "../core/errors.ts";
import type { ServingMetrics } from "../metrics.ts";
import { type CallContext, recordOutcome } from "./call-context.ts";
import type { HealthState } from "./health-service.ts";
import { handleOpenAiEmbeddings } from "./openai-embeddings.ts";
import { toHttpError } from "./status-mapping.ts";

/** Options of the HTTP listener. */
export interface HttpServerOptions {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  maxMessageBytes: number;
  context: CallContext;
  health: HealthState;
  metrics: ServingMetrics;
}

/** A bound HTTP server. */
export interface HttpListener {
  port: number;
  close(): Promise<void>;
}

/**
 * The HTTP side: the OpenAI-compatible `POST /v1/embeddings`, Prometheus `/metrics`, and the probes:
 * `/healthz` (the process is alive — also while the model loads) and `/readyz` (the model is loaded
 * and warmed up, and the server is not draining). Probes and metrics need no token.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpListener> {
  // Bodies are buffered before their inputs can be counted against the permits, so their bytes have
  // a budget of their own: many slow uploads cannot pile up memory.
  const bodies = new BodyBudget(8 * options.maxMessageBytes);
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    void route(options, bodies, request, response).catch((error: unknown) => {
      options.context.logger.error({ err: error }, "http handler failed");
      if (!response.headersSent) sendJson(response, 500, { error: { message: "internal error" } });
      else response.destroy();
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 65_000; // above common load-balancer idle timeouts (60 s)
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function route(
  options: HttpServerOptions,
  bodies: BodyBudget,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0];
  const { health, metrics, context } = options;
  if (request.method === "GET" && path === "/healthz") {
    // Liveness: fails only when restarting the container is the fix (the inference worker died).
    const broken = health.broken;
    return broken === undefined ? sendText(response, 200, "ok\n") : sendText(response, 503, `${broken}\n`);
  }
  if (request.method === "GET" && path === "/readyz") {
    const ready = health.get("") === "SERVING";
    return sendText(
      response,
      ready ? 200 : 503,
      ready ? "ready\n" : `not ready (${context.embedder.state})\n`,
    );
  }
  if (request.method === "GET" && path === "/metrics") {
    response.writeHead(200, { "content-type": metrics.registry.contentType });
    response.end(await metrics.registry.metrics());
    return;
  }
  if (path === "/v1/embeddings" || path === "/embeddings") {
    if (request.method !== "POST")
      return sendJson(response, 405, { error: { message: "use POST" } }, { allow: "POST" });
    const startedAt = performance.now();
    const reservation = bodies.reservation();
    try {
      context.auth?.check(request.headers.authorization);
      const body = await readBody(request, options.maxMessageBytes, reservation);
      const controller = new AbortController();
      response.on("close", () => {
        if (!response.writableFinished) controller.abort();
      });
      const result = await handleOpenAiEmbeddings(context, body, controller.signal);
      recordOutcome(context, "http", "embeddings", startedAt);
      return sendJson(response, 200, result);
    } catch (error) {
      recordOutcome(context, "http", "embeddings", startedAt, error);
      const mapped = toHttpError(error);
      // The body may be unread (auth failed first); close rather than drain an unknown amount.
      if (!request.complete) mapped.headers.connection = "close";
      return sendJson(response, mapped.status, mapped.body, mapped.headers);
    } finally {
      reservation.release();
    }
  }
  sendJson(response, 404, { error: { message: `no route for ${request.method} ${path}` } });
}

async function readBody(request: IncomingMessage, limit: number, reservation: Reservation): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? Number.NaN);
  if (declared > limit) throw servingErrors.messageTooLarge(declared, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw servingErrors.messageTooLarge(size, limit);
    reservation.grow((chunk as Buffer).length);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface Reservation {
  /** Adds bytes; throws OVERLOADED when the budget is spent. */
  grow(bytes: number): void;
  release(): void;
}

/** Bytes of request bodies held at once, across all requests. */
class BodyBudget {
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

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  response.end(payload);
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}
