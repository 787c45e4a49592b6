/** The HTTP listener: OpenAI and TEI embedding routes, the model list, probes and metrics. */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { isServingError, servingErrors, type ServingError } from "../core/errors.ts";
import type { ServingMetrics } from "../metrics.ts";
import { type CallContext, outcomeOfSuccess, recordOutcome } from "./call-context.ts";
import type { HealthState } from "./health-service.ts";
import { DropBudget } from "./drop-budget.ts";
import { BodyBudget, dropUnreadBody, parseJsonBody, readBody, sendJson, sendText } from "./http-body.ts";
import { handleOpenAiEmbeddings } from "./openai-embeddings.ts";
import { assertServedModel, openAiModel } from "./openai-models.ts";
import { toHttpError, toTeiHttpError, type OpenAiErrorBody } from "./status-mapping.ts";
import { handleTeiEmbed, handleTeiInfo, teiHealth } from "./tei-http.ts";

/** Options of the HTTP listener. */
export interface HttpServerOptions {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  maxMessageBytes: number;
  /**
   * Longest a request may take to arrive, body included (answering is not counted): a client sending
   * its body slowly holds part of the shared body budget, so eight slow ones would refuse every other
   * HTTP call for Node's default of 300 s.
   */
  requestTimeoutMs: number;
  /**
   * A keep-alive connection older than this (±10% per connection) gets `Connection: close` on its
   * next answer, so a busy client behind a Service reconnects and reaches pods added since.
   */
  maxConnectionAgeMs: number;
  context: CallContext;
  health: HealthState;
  metrics: ServingMetrics;
}

/** A bound HTTP server. */
export interface HttpListener {
  port: number;
  /**
   * Answers every API request not answered yet with 503 DRAINING (`Connection: close`) and abandons
   * its work, then closes the listener and its connections (see the body).
   */
  close(): Promise<void>;
}

/**
 * The API requests being answered: each entry answers its request with the error now, if not yet,
 * and resolves once the answer is sent (after the rest of a body still arriving, see dropUnreadBody).
 */
type InFlightAnswers = Set<(error: ServingError) => Promise<void>>;

/** How long connections still busy when the listener closes may take to finish (see close). */
const CLOSE_GRACE_MS = 1_000;

/** What a route answers on success. */
interface RouteAnswer {
  body: unknown;
  headers: Record<string, string>;
}

/** Whose API a route belongs to: it decides the error body (OpenAI's or TEI's). */
type ApiFamily = "openai" | "tei";

/** One route of an API; every route needs the bearer token when auth is on. */
interface Route {
  method: "GET" | "POST";
  family: ApiFamily;
  /** The `method` label of the request metrics, for embedding routes. */
  metric?: string;
  handle(request: IncomingMessage, signal: AbortSignal): Promise<RouteAnswer> | RouteAnswer;
}

/**
 * The HTTP side: OpenAI's `POST /v1/embeddings` and `GET /v1/models[/{model}]`, text-embeddings-
 * inference's `POST /embed` (also `POST /`, as in TEI), `GET /info` and `GET /health`, Prometheus
 * `/metrics`, and the probes `/healthz` (the process is alive, also while the model loads) and
 * `/readyz` (loaded, warmed up, not draining). Errors carry OpenAI's body except on TEI's routes,
 * which carry TEI's. Probes, `/health` and metrics need no token.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpListener> {
  // When each connection is to be closed, from its first request (the TLS and plain sockets differ,
  // so not from the listener's connection event), jittered so that clients which connected together
  // do not all reconnect together.
  const closeAfter = new WeakMap<Socket, number>();
  const closeIfOld = (request: IncomingMessage, response: ServerResponse): void => {
    const now = Date.now();
    const deadline = closeAfter.get(request.socket);
    if (deadline === undefined)
      closeAfter.set(request.socket, now + options.maxConnectionAgeMs * (0.9 + 0.2 * Math.random()));
    else if (now >= deadline) response.setHeader("connection", "close");
  };
  // Requests with `Expect: 100-continue`, whose client waits for the 100 before it sends the body:
  // the 100 goes out only when the body is about to be read (see readBody), so a request refused on
  // its headers (too large, no token, no such route) is answered without its body ever being sent.
  // Such an answer closes the connection (RFC 9110 10.1.1): the body the client did not send would
  // otherwise be expected before the connection's next request.
  const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();
  const continueBody = (request: IncomingMessage): void => {
    const response = awaitingContinue.get(request);
    if (response === undefined) return;
    awaitingContinue.delete(request);
    response.removeHeader("connection");
    closeIfOld(request, response);
    response.writeContinue();
  };
  // Aborted a grace into the listener's close: from then on a refusal waits for no body (the close
  // is bounded; a refusal's 5 s would hold it past the drain's deadline and the pod's grace period).
  const closing = new AbortController();
  // Drops the rest of a refused request's body, unless its client still waits for "100 Continue".
  // Shared by all connections. A single client's refused 50 MB body, even four in a row, fits the
  // burst whole, so Node's fetch reads its status (oversize-upload.test.ts, refused-upload.test.ts);
  // a flood of refused endless bodies gets 16 drops at once and 64 MiB/s, beyond which its
  // connections close at once, as before bodies were dropped (refused-upload-flood.test.ts).
  const dropBudget = new DropBudget(
    { maxConcurrent: 16, burstBytes: 256 * 1024 * 1024, bytesPerSecond: 64 * 1024 * 1024 },
    {
      dropped: (bytes) => options.metrics.refusedBodyDroppedBytes.inc(bytes),
      cut: (reason) => options.metrics.refusedBodyDropsCut.inc({ reason }),
    },
  );
  const dropBody = (request: IncomingMessage): Promise<void> =>
    awaitingContinue.has(request) ? Promise.resolve() : dropUnreadBody(request, closing.signal, dropBudget);
  const routes = apiRoutes(options, new BodyBudget(8 * options.maxMessageBytes), Date.now(), continueBody);
  const inFlight: InFlightAnswers = new Set();
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    closeIfOld(request, response);
    void dispatch(options, routes, inFlight, dropBody, request, response).catch((error: unknown) => {
      options.context.logger.error({ err: error }, "http handler failed");
      if (!response.headersSent) sendJson(response, 500, toHttpError(error).body);
      else response.destroy();
    });
  };
  const timeouts = {
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: Math.min(60_000, options.requestTimeoutMs),
    // How often Node looks for requests past their time (default 30 s, which would double the limit).
    connectionsCheckingInterval: Math.min(5_000, Math.max(100, options.requestTimeoutMs / 4)),
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...timeouts }, handler)
    : createHttpServer(timeouts, handler);
  server.keepAliveTimeout = 65_000; // above common load-balancer idle timeouts (60 s)
  // Without a listener Node answers "100 Continue" itself before the request is looked at.
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    awaitingContinue.set(request, response);
    response.setHeader("connection", "close");
    handler(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      // A drain that completed ended when the last embedding call was answered by the embedder, a
      // few promise steps before its route sends the 200: answered now, the call would get 503
      // DRAINING, its vectors thrown away. Those steps are all settled by the next turn of the loop.
      await new Promise((resolve) => setImmediate(resolve));
      return new Promise<void>((resolve) => {
        // Called once the drain is over (completed or timed out) or to close at once: a request still
        // computing (or still arriving) gets 503 DRAINING in its API's shape, which clients retry
        // elsewhere, rather than a cut connection, which they see as a network error. Its queued
        // inputs are dropped; a batch already in an inference worker ends with the worker. A body
        // still arriving is dropped first, so that its client can read the 503, for at most a grace.
        const answered = [...inFlight].map((answerNow) => answerNow(servingErrors.draining()));
        const stopDropping = setTimeout(() => closing.abort(), CLOSE_GRACE_MS).unref();
        // server.close() ends only the connections idle at this moment. A keep-alive connection whose
        // request is in flight now (a readiness probe, a call refused while draining) would stay open
        // after its answer until the client leaves or keepAliveTimeout (65 s) passes, past the pod's
        // grace period. The embedding calls were drained or answered above, so a second after those
        // answers went out what is left (an answer still being written to a slow reader) is cut.
        let closed = false;
        let cut: NodeJS.Timeout | undefined;
        server.close(() => {
          closed = true;
          clearTimeout(cut);
          clearTimeout(stopDropping);
          resolve();
        });
        server.closeIdleConnections();
        void Promise.all(answered).then(() => {
          if (!closed) cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
        });
      });
    },
  };
}

function apiRoutes(
  options: HttpServerOptions,
  bodies: BodyBudget,
  startedAtMs: number,
  continueBody: (request: IncomingMessage) => void,
): Map<string, Route> {
  const { context } = options;
  const jsonBody = async (request: IncomingMessage): Promise<unknown> => {
    const reservation = bodies.reservation();
    try {
      const body = await readBody(request, options.maxMessageBytes, reservation, () => continueBody(request));
      return parseJsonBody(body);
    } finally {
      reservation.release();
    }
  };
  const model = (): RouteAnswer => ({ body: openAiModel(context.embedder.model, startedAtMs), headers: {} });
  const teiEmbed: Route = {
    method: "POST",
    family: "tei",
    metric: "tei.embed",
    handle: async (request, signal) => handleTeiEmbed(context, await jsonBody(request), signal),
  };
  const embeddings: Route = {
    method: "POST",
    family: "openai",
    metric: "embeddings",
    handle: async (request, signal) => ({
      body: await handleOpenAiEmbeddings(context, await jsonBody(request), signal),
      headers: {},
    }),
  };
  const routes = new Map<string, Route>([
    ["/v1/embeddings", embeddings],
    ["/embeddings", embeddings],
    [
      "/v1/models",
      {
        method: "GET",
        family: "openai",
        handle: () => ({ body: { object: "list", data: [model().body] }, headers: {} }),
      },
    ],
    ["/embed", teiEmbed],
    // TEI answers POST / as /embed for an embedding model; huggingface_hub's InferenceClient
    // (base_url = the server) posts feature_extraction there.
    ["/", teiEmbed],
    ["/info", { method: "GET", family: "tei", handle: () => handleTeiInfo(context) }],
    // OpenAI's GET /v1/models/{model}, under each name the model answers to (see requestedModel).
    [
      MODELS_PREFIX,
      {
        method: "GET",
        family: "openai",
        handle: (request) => {
          assertServedModel(context.embedder.model, requestedModel(request.url ?? "/"));
          return model();
        },
      },
    ],
  ]);
  return routes;
}

const MODELS_PREFIX = "/v1/models/";

/**
 * The model id in `/v1/models/{model}`, percent-decoded. Clients encode the id differently (the
 * `openai` SDK leaves `:` and `@` as they are, others send `%3A`), so ids are compared decoded; a
 * malformed escape is an id no model has.
 */
function requestedModel(url: string): string {
  const segment = (url.split("?")[0] ?? "").slice(MODELS_PREFIX.length);
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The route of a path: exact, or the model route for any `/v1/models/{model}`. */
function routeOf(routes: ReadonlyMap<string, Route>, path: string): Route | undefined {
  return routes.get(path.startsWith(MODELS_PREFIX) ? MODELS_PREFIX : path);
}

async function dispatch(
  options: HttpServerOptions,
  routes: ReadonlyMap<string, Route>,
  inFlight: InFlightAnswers,
  dropBody: (request: IncomingMessage) => Promise<void>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0] ?? "/";
  const { health, metrics, context } = options;
  // HEAD is GET without the body (RFC 9110; Node leaves the body out): uptime checks and `curl -I`
  // ask a probe or the model list this way.
  const method = request.method === "HEAD" ? "GET" : request.method;
  if (method === "GET" && path === "/healthz") {
    // Liveness: fails only when restarting the container is the fix (the inference worker died).
    const broken = health.broken;
    return broken === undefined ? sendText(response, 200, "ok\n") : sendText(response, 503, `${broken}\n`);
  }
  if (method === "GET" && path === "/readyz") {
    const ready = health.get("") === "SERVING";
    return sendText(
      response,
      ready ? 200 : 503,
      ready ? "ready\n" : `not ready (${context.embedder.state})\n`,
    );
  }
  if (method === "GET" && path === "/health") {
    const unhealthy = teiHealth(context, health);
    if (unhealthy === undefined) return void response.writeHead(200).end();
    return sendJson(response, unhealthy.status, unhealthy.body, unhealthy.headers);
  }
  if (method === "GET" && path === "/metrics") {
    response.writeHead(200, { "content-type": metrics.registry.contentType });
    response.end(await metrics.registry.metrics());
    return;
  }
  // A probe path reaches here only with another method than GET.
  const probe = PROBE_PATHS.get(path);
  if (probe !== undefined) return methodNotAllowed(response, request, path, { method: "GET", family: probe });
  const route = routeOf(routes, path);
  if (route === undefined) {
    const body = openAiRouteError(`no route for ${request.method} ${path}`, "not_found");
    return sendJson(response, 404, body);
  }
  if (method !== route.method) return methodNotAllowed(response, request, path, route);
  await answer(context, route, inFlight, () => dropBody(request), request, response);
}

/**
 * Runs a route: token, handler, metrics, and the error in the route's API shape. While it runs, the
 * listener's close may answer it first (see InFlightAnswers): then its own outcome is dropped.
 * `dropBody` drops the rest of a body still arriving before a refusal (see dropUnreadBody).
 */
async function answer(
  context: CallContext,
  route: Route,
  inFlight: InFlightAnswers,
  dropBody: () => Promise<void>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const startedAt = performance.now();
  const controller = new AbortController();
  response.on("close", () => {
    if (!response.writableFinished) controller.abort();
  });
  const sendError = (error: unknown, closeConnection: boolean): void => {
    const mapped = route.family === "tei" ? toTeiHttpError(error) : toHttpError(error);
    if (closeConnection) mapped.headers.connection = "close";
    sendJson(response, mapped.status, mapped.body, mapped.headers);
  };
  // Every refusal, whatever refused the request (token, encoding, size, body budget, state, the
  // drain's end), goes out only once the rest of a body still arriving is dropped (dropUnreadBody):
  // its client may still be writing it. Whatever of the body was unread then closes the connection.
  let refusal: Promise<void> | undefined;
  const refuse = (error: unknown, closeConnection: boolean): Promise<void> =>
    (refusal ??= (async () => {
      await dropBody();
      if (response.headersSent || response.destroyed) return;
      sendError(error, closeConnection || !request.complete);
    })());
  let answeredEarly: ServingError | undefined;
  const answerNow = (error: ServingError): Promise<void> => {
    // An answer already started (or a refusal on its way) is left to finish whole.
    if (response.headersSent || answeredEarly !== undefined || refusal !== undefined)
      return refusal ?? Promise.resolve();
    answeredEarly = error;
    controller.abort(error);
    return refuse(error, true);
  };
  inFlight.add(answerNow);
  try {
    context.auth?.check(request.headers.authorization);
    const result = await route.handle(request, controller.signal);
    if (answeredEarly === undefined) {
      if (route.metric !== undefined)
        recordOutcome(context, "http", route.metric, startedAt, outcomeOfSuccess(controller.signal));
      return sendJson(response, 200, result.body, result.headers);
    }
  } catch (error) {
    if (answeredEarly === undefined) {
      if (route.metric !== undefined) recordOutcome(context, "http", route.metric, startedAt, error);
      // A call refused because this server is draining (or not loaded) closes the connection: the
      // client's retry then connects anew, through the Service to a replica that serves, instead of
      // coming back here on its keep-alive connection to be refused again for as long as the drain
      // lasts. Awaited here, so that the listener's close waits for it too.
      return await refuse(error, refusedAsUnavailable(error));
    }
  } finally {
    inFlight.delete(answerNow);
  }
  if (route.metric !== undefined) recordOutcome(context, "http", route.metric, startedAt, answeredEarly);
}

/** DRAINING or NOT_READY: another replica would take the call. */
function refusedAsUnavailable(error: unknown): boolean {
  return isServingError(error) && (error.code === "DRAINING" || error.code === "NOT_READY");
}

/** The probes and metrics (answered in dispatch, GET only) and whose error body they give. */
const PROBE_PATHS = new Map<string, ApiFamily>([
  ["/healthz", "openai"],
  ["/readyz", "openai"],
  ["/health", "tei"],
  ["/metrics", "openai"],
]);

/** 405 with `Allow`, in the error shape of the route's API. */
function methodNotAllowed(
  response: ServerResponse,
  request: IncomingMessage,
  path: string,
  route: Pick<Route, "method" | "family">,
): void {
  const message = `${path} takes ${route.method}, not ${request.method}`;
  const body =
    route.family === "tei"
      ? { error: message, error_type: "Validation" }
      : openAiRouteError(message, "method_not_allowed");
  sendJson(response, 405, body, { allow: route.method === "GET" ? "GET, HEAD" : route.method });
}

/** OpenAI's error body for a request no route takes. */
function openAiRouteError(message: string, code: string): OpenAiErrorBody {
  return { error: { message, type: "invalid_request_error", param: null, code } };
}
