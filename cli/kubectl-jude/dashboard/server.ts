// The dashboard's HTTP server, on loopback only: the page's files, the current state as JSON, a
// Server-Sent Events stream that pushes the state whenever a watch changed it, and the two actions
// (approve, rollback) — decided by the same functions as `kubectl jude approve|rollback` on a freshly
// read object and applied as the same spec patch, with the user's credentials.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { abandonApplied, approve, rollback } from "../actions.ts";
import { ApiFailure, NotFound, PluginError, type Cluster } from "../cluster.ts";
import { loadAssets } from "./assets.ts";
import { guardRequest } from "./request-guard.ts";
import type { WatchHub } from "./watch-hub.ts";

export interface DashboardServerOptions {
  hub: WatchHub;
  cluster: Pick<Cluster, "readModel" | "readVersionRecords" | "patchModelSpec">;
  /** 0 picks a free port. */
  port: number;
  /** The namespace the page shows (undefined: all): actions on a model elsewhere are refused. */
  namespace?: string;
  /** Loopback address to bind (default 127.0.0.1). */
  address?: string;
  /** Seconds between keep-alive comments on idle event streams (default 15). */
  heartbeatSeconds?: number;
}

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

// Any segment: a namespace or model name none can have (capitals, a dot) is refused by name (400),
// as `kubectl jude approve` refuses it, rather than answered as a path with no action.
const actionPath = /^\/api\/models\/([^/]+)\/([^/]+)\/(approve|rollback)$/;

function send(
  response: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { ...securityHeaders, ...headers, "content-type": type });
  response.end(body);
}

const sendJson = (
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => send(response, status, "application/json; charset=utf-8", JSON.stringify(body), headers);

async function readJson(request: IncomingMessage, limit = 4096): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > limit) throw new PluginError("request body too large");
  }
  const parsed: unknown = text === "" ? {} : JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new PluginError("request body must be a JSON object");
  return parsed as Record<string, unknown>;
}

/** A port the server cannot listen on, as one line that says what to do (not a stack trace). */
function listenFailure(error: unknown, address: string, port: number): Error {
  const code = (error as { code?: unknown }).code;
  if (code === "EADDRINUSE")
    return new PluginError(
      `port ${port} on ${address} is in use: pick another with --port N (--port 0 picks a free one)`,
    );
  if (code === "EACCES")
    return new PluginError(
      `may not listen on port ${port} on ${address} (ports below 1024 need privileges): pick another with --port N`,
    );
  return error as Error;
}

/**
 * The status and message an action that failed is answered with. A model the API server does not have
 * is 404; credentials or rights it refused are its own 401 or 403, with its message (it names the
 * identity the request ran as, which the kubeconfig's user name may not); a change it refused (409
 * Conflict, 422 from the CRD's rules or an admission webhook) is its own 409 or 422, the message saying
 * why; an API server that did not answer, or failed, is 502 (504 when --request-timeout ran out): the
 * dashboard is a gateway to it. Only a request the page should not have sent is 400.
 */
export function failureAnswer(error: unknown): { status: number; message: string } {
  const message = (error as Error).message;
  if (error instanceof NotFound) return { status: 404, message };
  if (error instanceof ApiFailure) {
    if (error.status === 401 || error.status === 403)
      return {
        status: error.status,
        message:
          error.apiMessage === undefined ? message : `${message}; the API server says: ${error.apiMessage}`,
      };
    if (error.status === 409 || error.status === 422) return { status: error.status, message };
    return { status: error.timedOut ? 504 : 502, message };
  }
  if (error instanceof PluginError || error instanceof SyntaxError) return { status: 400, message };
  return { status: 500, message };
}

/** Starts the server; resolves once it listens. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const assets = loadAssets();
  const streams = new Set<ServerResponse>();
  const address = options.address ?? "127.0.0.1";
  let port = options.port;

  const stream = (request: IncomingMessage, response: ServerResponse): void => {
    // HEAD asks for the headers alone: a stream opened for it would never end.
    if (request.method === "HEAD") return send(response, 200, "text/event-stream; charset=utf-8", "");
    response.writeHead(200, {
      ...securityHeaders,
      "content-type": "text/event-stream; charset=utf-8",
      connection: "keep-alive",
    });
    const push = (state: unknown): void => {
      response.write(`event: state\ndata: ${JSON.stringify(state)}\n\n`);
    };
    push(options.hub.state());
    // A page was (re)loaded: whether its buttons can work is asked again once the answer is old.
    options.hub.refreshPermissions();
    const unsubscribe = options.hub.subscribe(push, true);
    streams.add(response);
    request.once("close", () => {
      unsubscribe();
      streams.delete(response);
    });
  };

  const act = async (request: IncomingMessage, response: ServerResponse, match: RegExpExecArray) => {
    try {
      await actOn(request, response, match);
    } catch (error) {
      // Refused by the API server: whether the buttons can work is asked again (a right revoked since).
      if (failureAnswer(error).status === 403) options.hub.recheckPermissions(match[1] ?? "");
      throw error;
    }
  };

  const actOn = async (request: IncomingMessage, response: ServerResponse, match: RegExpExecArray) => {
    const [, namespace = "", name = "", action] = match;
    // The page offers actions only on the models it shows; another namespace is not this dashboard's.
    if (options.namespace !== undefined && namespace !== options.namespace)
      return sendJson(response, 404, {
        error: `this dashboard shows namespace ${options.namespace}: no model ${namespace}/${name} here`,
      });
    const body = await readJson(request);
    // A version the page did not send as a string is not "no version named" (which takes the pending one).
    for (const field of ["version", "abandons"])
      if (body[field] !== undefined && typeof body[field] !== "string")
        throw new PluginError(`"${field}" must be a string (a version name such as v2)`);
    const requested = body.version as string | undefined;
    // Decide on the object as it is now, not as the page last saw it.
    const model = await options.cluster.readModel(namespace, name);
    const decision =
      action === "approve"
        ? approve(model, requested)
        : rollback(model, requested, await options.cluster.readVersionRecords(namespace, model));
    if ("refused" in decision) return sendJson(response, 409, { error: decision.refused });
    // The page offered to abandon a candidate (or to roll back): if that candidate became active
    // meanwhile, the same version is now a rollback that moves readers, which was not what was confirmed.
    const abandons = body.abandons as string | undefined;
    if (action === "rollback" && abandons !== decision.abandons)
      return sendJson(response, 409, {
        error:
          abandons === undefined
            ? `${name} is promoting ${model.spec.version} now: this would abandon it; look again`
            : `${abandons} is no longer being promoted (active: ${model.status?.activeVersion ?? "none"}, spec.version: ${model.spec.version}); nothing was changed; look again`,
      });
    const precondition = abandons !== undefined ? model.metadata.resourceVersion : undefined;
    if (!(await options.cluster.patchModelSpec(namespace, name, decision.patch, precondition))) {
      // The 409 may have been the abandon's own write, applied by a try whose answer was lost.
      if (abandonApplied(await options.cluster.readModel(namespace, name), decision))
        return sendJson(response, 200, { summary: decision.summary });
      return sendJson(response, 409, { error: `${name} changed meanwhile; nothing was changed; look again` });
    }
    sendJson(response, 200, { summary: decision.summary });
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const verdict = guardRequest(request.method ?? "GET", request.headers, port);
    if (verdict !== undefined)
      // A 405 says which methods are allowed (RFC 9110).
      return sendJson(
        response,
        verdict.status,
        { error: verdict.message },
        verdict.status === 405 ? { allow: "GET, HEAD, POST" } : {},
      );
    const path = new URL(request.url ?? "/", "http://dashboard").pathname;
    if (request.method === "POST") {
      const match = actionPath.exec(path);
      if (match === null) return sendJson(response, 404, { error: `no action at ${path}` });
      return act(request, response, match);
    }
    if (path === "/api/state") return sendJson(response, 200, options.hub.state());
    if (path === "/api/stream") return stream(request, response);
    const asset = assets.get(path);
    if (asset === undefined) return sendJson(response, 404, { error: `${path} not found` });
    send(response, 200, asset.type, asset.body);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const { status, message } = failureAnswer(error);
      if (!response.headersSent) sendJson(response, status, { error: message });
      else response.end();
    });
  });
  const heartbeat = setInterval(
    () => {
      for (const response of streams) response.write(": keep-alive\n\n");
    },
    (options.heartbeatSeconds ?? 15) * 1000,
  );
  heartbeat.unref();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, address, () => resolve());
    });
  } catch (error) {
    clearInterval(heartbeat);
    throw listenFailure(error, address, options.port);
  }
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address}:${port}/`,
    port,
    close: async () => {
      clearInterval(heartbeat);
      for (const response of streams) response.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
