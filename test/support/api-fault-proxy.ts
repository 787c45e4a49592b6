// A reverse proxy in front of the testbed's API server that can answer some requests itself, as an
// API server under load does (429 Too Many Requests with Retry-After from API Priority and Fairness,
// 500/503 bursts, 409 conflicts): the operator reaches it over plain HTTP, and it forwards the rest
// to the real API server with the kubeconfig's credentials, streaming the answer (watches included).
// Every request is recorded with when it came and how it was answered, so a test can measure how
// often the client asks while it is refused.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** A request the proxy saw. */
export interface ProxiedRequest {
  atMs: number;
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  /** The status the client got (the fault's, or the API server's). */
  status: number;
  /** True when the proxy answered itself. */
  injected: boolean;
  /** A request the proxy hangs (`hang`): true once the client closed it (gave up and aborted it). */
  closedByClient?: boolean;
}

/** The proxy's own answer to a request. */
export interface Fault {
  status: number;
  headers?: Record<string, string>;
  /** A metav1.Status body is made from status and reason when absent. */
  body?: string;
  reason?: string;
  /**
   * Forward the request first and answer with this fault instead of the API server's reply: a write
   * applied whose answer was lost (etcd's "request timed out" reaches the client as 500 ServerTimeout
   * with Retry-After although the write may have been committed).
   */
  afterForwarding?: boolean;
  /**
   * Never answer (`status` is not sent): an API server that takes the request and hangs. The request
   * is recorded with status 0; closing the proxy ends it.
   */
  hang?: boolean;
  /**
   * Forward the request and pass the API server's answer on this many ms late, byte for byte (`status`
   * is not sent): a watch stream that lags, as one behind a busy connection or API server does, while
   * the other watches deliver at once.
   */
  lagMs?: number;
}

/** Decides per request: a fault to answer with, or undefined to forward. */
export type FaultRule = (request: {
  method: string;
  path: string;
  query: URLSearchParams;
}) => Fault | undefined;

export interface ApiFaultProxy {
  /** A kubeconfig that reaches the API server through the proxy. */
  kubeconfigPath: string;
  requests: ProxiedRequest[];
  setRule(rule: FaultRule | undefined): void;
  close(): Promise<void>;
}

/** The Status body the API server sends with an error. */
function statusBody(fault: Fault): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `injected by the test proxy: ${fault.status}`,
    reason: fault.reason ?? "",
    code: fault.status,
  });
}

/** Starts a proxy to the API server of `kubeconfigPath` (client-certificate credentials). */
export async function startApiFaultProxy(kubeconfigPath: string): Promise<ApiFaultProxy> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const upstream = new URL(config.getCurrentCluster()?.server ?? "");
  const tls: Record<string, unknown> = {};
  await config.applyToHTTPSOptions(tls);
  const agent = new Agent({ ...tls, keepAlive: true });
  let rule: FaultRule | undefined;
  const requests: ProxiedRequest[] = [];
  const responses = new Set<ServerResponse>();

  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const url = new URL(incoming.url ?? "/", "http://proxy");
    const record: ProxiedRequest = {
      atMs: Date.now(),
      method: incoming.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      status: 0,
      injected: false,
    };
    requests.push(record);
    const fault = rule?.({ method: record.method, path: record.path, query: record.query });
    if (fault?.hang === true) {
      record.injected = true;
      record.closedByClient = false;
      incoming.resume();
      responses.add(outgoing);
      outgoing.on("close", () => {
        // Not the proxy's close(), which ends the hung requests itself.
        if (responses.has(outgoing)) record.closedByClient = true;
        responses.delete(outgoing);
      });
      return;
    }
    if (fault !== undefined && fault.afterForwarding !== true && fault.lagMs === undefined) {
      record.status = fault.status;
      record.injected = true;
      incoming.resume();
      outgoing.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
      outgoing.end(fault.body ?? statusBody(fault));
      return;
    }
    responses.add(outgoing);
    outgoing.on("close", () => responses.delete(outgoing));
    const headers = { ...incoming.headers, host: upstream.host };
    const forwarded = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: record.method,
        path: incoming.url,
        headers,
        agent,
      },
      (answer) => {
        if (fault?.lagMs !== undefined) {
          const lagMs = fault.lagMs;
          record.status = answer.statusCode ?? 0;
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on("data", (chunk: Buffer) => setTimeout(() => outgoing.write(chunk), lagMs));
          answer.on("end", () => setTimeout(() => outgoing.end(), lagMs));
          return;
        }
        if (fault !== undefined) {
          record.status = fault.status;
          record.injected = true;
          answer.resume();
          answer.on("end", () => {
            outgoing.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
            outgoing.end(fault.body ?? statusBody(fault));
          });
          return;
        }
        record.status = answer.statusCode ?? 0;
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on("error", () => outgoing.destroy());
    outgoing.on("close", () => forwarded.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no TCP address");

  const through = new KubeConfig();
  through.loadFromOptions({
    clusters: [{ name: "proxy", server: `http://127.0.0.1:${address.port}`, skipTLSVerify: true }],
    users: [{ name: "proxy" }],
    contexts: [{ name: "proxy", cluster: "proxy", user: "proxy", namespace: "default" }],
    currentContext: "proxy",
  });
  const path = join(mkdtempSync(join(tmpdir(), "jude-fault-proxy-")), "kubeconfig");
  writeFileSync(path, through.exportConfig(), { mode: 0o600 });

  return {
    kubeconfigPath: path,
    requests,
    setRule: (next) => {
      rule = next;
    },
    close: async () => {
      for (const response of [...responses]) {
        responses.delete(response);
        response.destroy();
      }
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
