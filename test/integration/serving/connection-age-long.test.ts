/**
 * A maximum connection age longer than a Node timer can wait (2^31 - 1 ms, about 24.8 days; say an
 * operator sets 30 days to keep connections for good) must not end every connection at once: a
 * timer given a longer delay fires after 1 ms, so each connection got GOAWAY as it opened and its
 * first stream was refused. Such an age keeps connections for (at least) the longest timer; streams
 * and unary calls are answered on the connection they opened.
 */
import { credentials, Metadata, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { spawnServe, type GrpcStub, type ServeProcess } from "./helpers.ts";

const THIRTY_DAYS_MS = 30 * 24 * 3_600_000;
let serve: ServeProcess;
let client: GrpcStub;

beforeAll(async () => {
  serve = await spawnServe(["--execution-provider=cpu", `--max-connection-age-ms=${THIRTY_DAYS_MS}`]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  client = new (loadProtos().embedding)(`127.0.0.1:${serve.grpcPort}`, credentials.createInsecure(), {
    // No transparent retry on a new connection: a refused stream shows.
    "grpc.enable_retries": 0,
  }) as GrpcStub;
});
afterAll(async () => {
  client.close();
  if (serve.child.exitCode === null) serve.child.kill("SIGTERM");
  await serve.exited;
});

/** Sends `count` requests one after the other on one stream, then half-closes; how it ended. */
function streamRequests(count: number): Promise<{ answered: number; end: string }> {
  const stream = client.EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>;
  let answered = 0;
  return new Promise((resolve) => {
    const send = (): void => {
      stream.write({ requestId: String(answered), inputs: [{ text: "kept on its connection" }] });
    };
    stream.on("data", (message) => {
      if (message.error === undefined || message.error === null) answered++;
      if (answered < count) send();
      else stream.end();
    });
    stream.once("error", (error: ServiceError) =>
      resolve({ answered, end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}` }),
    );
    stream.once("status", (end: { code: number }) => {
      if (end.code === status.OK) resolve({ answered, end: "OK" });
    });
    send();
  });
}

function unaryEmbed(): Promise<unknown> {
  return new Promise((resolve, reject) =>
    client.Embed!(
      { inputs: [{ text: "a unary call" }] },
      new Metadata(),
      (error: Error | null, answer: unknown) => (error ? reject(error) : resolve(answer)),
    ),
  );
}

it("keeps connections open when the maximum age is longer than a timer can wait", async () => {
  expect(await streamRequests(5)).toEqual({ answered: 5, end: "OK" });
  for (let call = 0; call < 5; call++) await unaryEmbed();
  expect(await streamRequests(5)).toEqual({ answered: 5, end: "OK" });
}, 120_000);
