/**
 * Requests an EmbedStream reads once it was asked to end (its connection's maximum age, or a drain)
 * are not embedded: jude's stream answers each in-stream with UNAVAILABLE, TEI's ends with it. Each
 * is counted in jude_serving_requests_total with that code, as a request refused while draining was
 * counted before streams stopped embedding such requests (its client saw a failure).
 */
import { credentials, status, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { spawnServe, type GrpcStub, type ServeProcess } from "./helpers.ts";

let serve: ServeProcess;
const clients: Client[] = [];

beforeAll(async () => {
  serve = await spawnServe(["--execution-provider=cpu", "--max-connection-age-ms=1000"]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(async () => {
  for (const client of clients) client.close();
  if (serve.child.exitCode === null) serve.child.kill("SIGTERM");
  await serve.exited;
});

function connect(service: "embedding" | "teiEmbed"): GrpcStub {
  const client = new (loadProtos()[service])(
    `127.0.0.1:${serve.grpcPort}`,
    credentials.createInsecure(),
  ) as GrpcStub;
  clients.push(client);
  return client;
}

async function refusedCount(method: string): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
  const prefix = `jude_serving_requests_total{transport="grpc",method="${method}",code="UNAVAILABLE"} `;
  const line = metrics.split("\n").find((candidate) => candidate.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}

/**
 * Keeps `depth` requests in flight on a stream (a request written for each answer) until the stream
 * ends: some are read after its connection reached its maximum age. Counts answers that are errors.
 */
function pipelined(
  stream: ClientDuplexStream<unknown, { error?: unknown }>,
  request: () => unknown,
  depth: number,
): Promise<{ errorsInStream: number; end: string }> {
  let errorsInStream = 0;
  return new Promise((resolve) => {
    stream.on("data", (message) => {
      if (message.error !== undefined && message.error !== null) errorsInStream++;
      stream.write(request());
    });
    stream.once("error", (error: ServiceError) =>
      resolve({
        errorsInStream,
        end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`,
      }),
    );
    for (let sent = 0; sent < depth; sent++) stream.write(request());
  });
}

it("counts the requests of jude's EmbedStream answered MAX_CONNECTION_AGE in-stream", async () => {
  const before = await refusedCount("EmbedStream");
  const seen = await pipelined(
    connect("embedding").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
    () => ({ inputs: [{ text: "a pipeline streaming its corpus" }] }),
    8,
  );
  expect(seen.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect(seen.errorsInStream).toBeGreaterThan(0);
  expect((await refusedCount("EmbedStream")) - before).toBe(seen.errorsInStream);
}, 120_000);

it("counts the requests TEI's EmbedStream did not embed once its connection aged", async () => {
  const before = await refusedCount("tei.EmbedStream");
  const seen = await pipelined(
    connect("teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
    () => ({ inputs: "a TEI client streaming its corpus" }),
    8,
  );
  expect(seen.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect((await refusedCount("tei.EmbedStream")) - before).toBeGreaterThan(0);
}, 120_000);
