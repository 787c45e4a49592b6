/**
 * TLS from mounted Secret files and bearer-token auth, on gRPC and HTTPS. Probes (gRPC health,
 * /healthz, /readyz) and /metrics need no token, as kubelet and Prometheus do not send one.
 */
import { credentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { selfSignedCertificate, startServer } from "./helpers.ts";

const TOKEN = "tls-test-token";
let server: EmbeddingServer;
let ca: Buffer;
let address: string;

beforeAll(async () => {
  const directory = await mkdtemp(join(tmpdir(), "jude-tls-"));
  const { cert, key } = await selfSignedCertificate(directory);
  ca = await readFile(cert);
  const tokenFile = join(directory, "token");
  await writeFile(tokenFile, TOKEN);
  server = await startServer({ tls: { certFile: cert, keyFile: key }, auth: { tokenFile } });
  address = `127.0.0.1:${server.grpcPort}`;
});
afterAll(() => server.close());

function httpsRequest(
  path: string,
  options: { method?: string; token?: string; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const call = request(
      {
        host: "127.0.0.1",
        port: server.httpPort,
        path,
        method: options.method ?? "GET",
        ca,
        servername: "localhost",
        headers: {
          "content-type": "application/json",
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    call.on("error", reject);
    call.end(options.body);
  });
}

it("serves Embed over TLS to a client that trusts the CA and sends the token", async () => {
  const client = new EmbeddingClient({ address, tls: { ca, serverName: "localhost" }, token: TOKEN });
  try {
    const answer = await client.embed(["Machine learning engineer, NLP"]);
    expect(answer.vectors[0]).toHaveLength(384);
  } finally {
    client.close();
  }
});

it("refuses a TLS client without the token, and a plaintext client at the transport", async () => {
  const anonymous = new EmbeddingClient({ address, tls: { ca, serverName: "localhost" } });
  const plaintext = new EmbeddingClient({ address, token: TOKEN, deadlineMs: 5_000 });
  try {
    await expect(anonymous.embed(["x"])).rejects.toMatchObject({ statusName: "UNAUTHENTICATED" });
    const error = await plaintext.embed(["x"]).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(EmbeddingClientError);
    expect(["UNAVAILABLE", "DEADLINE_EXCEEDED"]).toContain((error as EmbeddingClientError).statusName);
  } finally {
    anonymous.close();
    plaintext.close();
  }
});

it("answers gRPC health checks over TLS without a token", async () => {
  const health = new (loadProtos().health)(address, credentials.createSsl(ca), {
    "grpc.ssl_target_name_override": "localhost",
  }) as Client &
    Record<
      string,
      (request: unknown, callback: (error: ServiceError | null, response: unknown) => void) => void
    >;
  try {
    const response = await new Promise((resolve, reject) =>
      health.Check!({ service: "" }, (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(response).toEqual({ status: "SERVING" });
    const unknown = await new Promise((resolve) =>
      health.Check!({ service: "nope" }, (error) => resolve(error)),
    );
    expect(unknown).toMatchObject({ code: 5 }); // NOT_FOUND
  } finally {
    health.close();
  }
});

it("serves HTTPS: embeddings need the token, probes and metrics do not", async () => {
  const body = JSON.stringify({ input: ["Nurse, ICU"] });
  expect((await httpsRequest("/v1/embeddings", { method: "POST", body })).status).toBe(401);
  const embedded = await httpsRequest("/v1/embeddings", { method: "POST", body, token: TOKEN });
  expect(embedded.status).toBe(200);
  expect(
    (JSON.parse(embedded.body) as { data: Array<{ embedding: number[] }> }).data[0]?.embedding,
  ).toHaveLength(384);
  expect(await httpsRequest("/readyz")).toMatchObject({ status: 200 });
  expect(await httpsRequest("/healthz")).toMatchObject({ status: 200 });
  const metrics = await httpsRequest("/metrics");
  expect(metrics.status).toBe(200);
  expect(metrics.body).toContain(
    'jude_serving_requests_total{transport="http",method="embeddings",code="UNAUTHENTICATED"} 1',
  );
  expect(metrics.body).not.toContain(TOKEN);
});
