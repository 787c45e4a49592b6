/**
 * Connections are rebalanced when serving scales out. A Kubernetes Service balances TCP connections,
 * not calls: a nearline worker's gRPC channel (or an HTTP keep-alive client) that is never idle stays
 * on the pod it first reached, so pods added by the autoscaler got none of its calls. The server ends
 * every connection after limits.maxConnectionAgeMs (gRPC GOAWAY; HTTP `Connection: close` on the next
 * answer), the client reconnects through the Service, and no call fails on the way.
 *
 * Two real servers stand behind a TCP balancer that, like kube-proxy, picks a backend per connection.
 */
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { waitFor } from "../../testbed/wait.ts";
import { callContinuously, startServer } from "./helpers.ts";
import { startBalancer } from "../../support/tcp-balancer.ts";

const servers: EmbeddingServer[] = [];

beforeAll(async () => {
  for (let index = 0; index < 2; index++)
    servers.push(await startServer({ limits: { maxConnectionAgeMs: 1_000 } }));
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

describe("a client that is never idle", () => {
  it("over gRPC reaches every backend and loses no call", async () => {
    const balancer = await startBalancer(servers.map((server) => server.grpcPort));
    const client = new EmbeddingClient({ address: `127.0.0.1:${balancer.port}`, deadlineMs: 10_000 });
    try {
      // Eight calls at a time, as a worker with batches in flight: some are running at each GOAWAY.
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () =>
          callContinuously(5_000, () => client.embed(["a busy nearline worker"])),
        ),
      );
      expect(outcomes.flatMap((outcome) => outcome.failures)).toEqual([]);
      expect(outcomes.reduce((sum, outcome) => sum + outcome.calls, 0)).toBeGreaterThan(10);
      expect(balancer.connections).toBeGreaterThanOrEqual(2);
      expect(Math.min(...balancer.answeredBytes)).toBeGreaterThan(0);
    } finally {
      client.close();
      await balancer.close();
    }
  });

  it("over HTTP keep-alive reaches every backend and loses no call", async () => {
    const balancer = await startBalancer(servers.map((server) => server.httpPort));
    const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
    try {
      const outcome = await callContinuously(5_000, async () => {
        const response = await request(`http://127.0.0.1:${balancer.port}/v1/embeddings`, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ input: "a busy query encoder" }),
        });
        const body = await response.body.text();
        if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${body}`);
      });
      expect(outcome.failures).toEqual([]);
      expect(outcome.calls).toBeGreaterThan(10);
      expect(balancer.connections).toBeGreaterThanOrEqual(2);
      expect(Math.min(...balancer.answeredBytes)).toBeGreaterThan(0);
    } finally {
      await agent.close();
      await balancer.close();
    }
  });
});

describe("a backend that vanishes without closing its connections", () => {
  it("is left within seconds: the client's keepalive pings find the connection dead", async () => {
    const balancer = await startBalancer(servers.map((server) => server.grpcPort));
    const client = new EmbeddingClient({ address: `127.0.0.1:${balancer.port}`, deadlineMs: 2_000 });
    try {
      expect((await client.embed(["before"])).vectors).toHaveLength(1); // on backend 0
      balancer.blackhole(0);
      // Calls time out while the channel still trusts the silent connection; without keepalive it
      // would for as long as the kernel retransmits (about 15 minutes).
      await waitFor(
        "a call that succeeds on the live backend",
        async () =>
          await client.embed(["after"]).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(balancer.answeredBytes[1]).toBeGreaterThan(0);
    } finally {
      client.close();
      await balancer.close();
    }
  });
});
