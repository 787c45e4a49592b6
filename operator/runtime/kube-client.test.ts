import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig, RequestContext } from "@kubernetes/client-node";
import { Agent } from "undici";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dispatcherTtlMs, KubeClient, serverRetryAttempts } from "./kube-client.ts";

// A real local HTTP server counting TCP connections, and a KubeConfig stand-in that behaves like
// @kubernetes/client-node's: a new undici Agent on every applySecurityAuthentication call.
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function countingServer(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  server = createServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ metadata: { name: "a" } }));
  });
  server.on("connection", () => (connections += 1));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

function agentPerCallConfig(url: string): KubeConfig {
  return {
    getCurrentCluster: () => ({ server: url }),
    applySecurityAuthentication: async (context: RequestContext) => {
      context.setHeaderParam("authorization", "Bearer token");
      context.setDispatcher(new Agent());
    },
  } as unknown as KubeConfig;
}

// undici may open a second connection while the first response is being finished; from then on a
// reused pool adds none, while an agent per request would add one each time.
async function requests(client: KubeClient, count: number): Promise<void> {
  for (let request = 0; request < count; request += 1) await client.get("/api/v1/namespaces/a");
}

describe("KubeClient", () => {
  it("reuses one connection pool for every request instead of the kubeconfig's agent per call", async () => {
    const { url, connections } = await countingServer();
    const client = new KubeClient(agentPerCallConfig(url));
    await requests(client, 3);
    const warm = connections();
    await requests(client, 10);
    expect(connections()).toBe(warm);
    await client.close();
  });

  it("builds a fresh pool from the kubeconfig once the old one is older than its lifetime", async () => {
    const { url, connections } = await countingServer();
    let now = 0;
    const client = new KubeClient(agentPerCallConfig(url), undefined, () => now);
    await requests(client, 3);
    const warm = connections();
    now = dispatcherTtlMs - 1;
    await requests(client, 3);
    expect(connections()).toBe(warm);
    now = dispatcherTtlMs;
    await requests(client, 1);
    expect(connections()).toBe(warm + 1);
    await client.close();
  });

  it("closes the pool without destroying it once nothing is in flight (destroying races undici's HTTP/2 teardown)", async () => {
    const { url } = await countingServer();
    let agent: Agent | undefined;
    const config = {
      getCurrentCluster: () => ({ server: url }),
      applySecurityAuthentication: async (context: RequestContext) => {
        agent ??= new Agent();
        context.setDispatcher(agent);
      },
    } as unknown as KubeConfig;
    const client = new KubeClient(config);
    await requests(client, 2);
    // undici's close ends the connections, then destroys what is left: nothing.
    const closing = vi.spyOn(agent!, "close");
    await client.close();
    expect(closing).toHaveBeenCalled();
    expect(agent!.closed).toBe(true);
  });

  it("lets a request in flight finish when closed, and aborts one still running after the grace", async () => {
    const answers: Array<() => void> = [];
    server = createServer((_request, response) => {
      response.setHeader("content-type", "application/json");
      answers.push(() => response.end(JSON.stringify({ metadata: { name: "late" } })));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    // In flight when close starts, answered within the grace: it completes instead of failing.
    const client = new KubeClient(agentPerCallConfig(url));
    const inFlight = client.get("/api/v1/namespaces/a");
    await new Promise<void>((resolve) => server!.once("request", () => resolve()));
    const closing = client.close(5_000);
    setTimeout(() => answers.shift()!(), 50);
    await expect(inFlight).resolves.toMatchObject({ metadata: { name: "late" } });
    await closing;

    // Never answered: close returns after the grace, and the request fails.
    const stuck = new KubeClient(agentPerCallConfig(url));
    const hanging = stuck.get("/api/v1/namespaces/b");
    await new Promise<void>((resolve) => server!.once("request", () => resolve()));
    await stuck.close(50);
    await expect(hanging).rejects.toThrow(/fetch failed/);
  });
});

/** A server answering each request with the next of `answers` (the last one from then on). */
async function scriptedServer(
  answers: { status: number; retryAfter?: string }[],
): Promise<{ url: string; times: number[] }> {
  const times: number[] = [];
  server = createServer((_request, response) => {
    const answer = answers[Math.min(times.length, answers.length - 1)]!;
    times.push(Date.now());
    if (answer.retryAfter !== undefined) response.setHeader("retry-after", answer.retryAfter);
    response.statusCode = answer.status;
    // API Priority and Fairness answers its 429 in plain text, not as a Status.
    response.end(answer.status === 200 ? JSON.stringify({ metadata: { name: "a" } }) : "Too many requests");
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, times };
}

describe("KubeClient and a server that asks to retry", () => {
  it("sends a request again after the server's Retry-After (429, or a 5xx that carries one)", async () => {
    const { url, times } = await scriptedServer([
      { status: 429 }, // no Retry-After: 1 s
      { status: 503, retryAfter: "0" },
      { status: 429, retryAfter: "1" },
      { status: 200 },
    ]);
    const codes: number[] = [];
    const client = new KubeClient(agentPerCallConfig(url), (_verb, code) => codes.push(code));
    await expect(
      client.apply("/api/v1/namespaces/a/configmaps/c", { metadata: { name: "c" } }, "test", true),
    ).resolves.toMatchObject({ metadata: { name: "a" } });
    expect(codes).toEqual([429, 503, 429, 200]);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(990);
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(990);
    await client.close();
  });

  // The NearlinePipeline tells WorkersRemoved only for a deletion its own call made: a second delete
  // of the same workers (a reconcile whose cache had not seen the first yet) finds them gone.
  it("says whether a DELETE removed the object, a missing one (404) being no error", async () => {
    const { url } = await scriptedServer([{ status: 200 }, { status: 404 }]);
    const client = new KubeClient(agentPerCallConfig(url));
    await expect(client.delete("/apis/apps/v1/namespaces/a/deployments/d")).resolves.toBe(true);
    await expect(client.delete("/apis/apps/v1/namespaces/a/deployments/d")).resolves.toBe(false);
    await client.close();
  });

  it("does not repeat any other failure, nor a 5xx without Retry-After", async () => {
    for (const status of [500, 503, 409, 403]) {
      const { url, times } = await scriptedServer([{ status }, { status: 200 }]);
      const client = new KubeClient(agentPerCallConfig(url));
      await expect(client.apply("/x", {}, "test", false)).rejects.toMatchObject({ statusCode: status });
      expect(times).toHaveLength(1);
      await client.close();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    }
  });

  it("gives up after serverRetryAttempts tries, failing with the 429", async () => {
    const { url, times } = await scriptedServer([{ status: 429, retryAfter: "0" }]);
    const client = new KubeClient(agentPerCallConfig(url));
    await expect(client.list("/api/v1/configmaps")).rejects.toMatchObject({ statusCode: 429 });
    expect(times).toHaveLength(serverRetryAttempts);
    await client.close();
  });

  it("stops waiting when the request's signal aborts", async () => {
    const { url, times } = await scriptedServer([{ status: 429, retryAfter: "5" }]);
    const client = new KubeClient(agentPerCallConfig(url));
    const leading = new AbortController();
    const asked = new Promise<void>((resolve) => server!.once("request", () => resolve()));
    const writing = client.apply("/x", {}, "test", true, leading.signal);
    // Aborted while the client waits out the 5 s Retry-After: no second try (it would come after the
    // test's time limit).
    await asked;
    leading.abort(new Error("lost the leader lease"));
    await expect(writing).rejects.toThrow("lost the leader lease");
    expect(times).toHaveLength(1);
    await client.close();
  });

  it("ends a request waiting to be sent again when closed, with the server's last answer", async () => {
    const { url, times } = await scriptedServer([{ status: 429, retryAfter: "5" }]);
    const client = new KubeClient(agentPerCallConfig(url));
    const asked = new Promise<void>((resolve) => server!.once("request", () => resolve()));
    const writing = client.apply("/x", {}, "test", true);
    await asked;
    const refused = expect(writing).rejects.toMatchObject({ statusCode: 429 });
    await client.close();
    await refused;
    expect(times).toHaveLength(1);
  });
});
