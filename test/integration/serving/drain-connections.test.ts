/**
 * SIGTERM while connections hold no embedding call but do not go away by themselves: the drain does
 * not wait for them, and the listeners' close must not either.
 * - HTTP: a client still uploading its body (a slow client, a probe caught mid-request). Before the
 *   listener cut such connections, `jude serve` stayed up until the client gave up or the server's
 *   request timeout passed, past any pod grace period. The request is answered 503 DRAINING (with
 *   `Connection: close`) rather than cut without an answer.
 * - gRPC: a peer that keeps its side of the TCP connection open after the server's GOAWAY and FIN (a
 *   proxy holding a half-open upstream, as the local nodes' Service proxy did under load). grpc-js
 *   closes such a session gracefully and then only ends, never destroys, its socket, so its shutdown
 *   waited for the peer forever and the pod was killed at the end of its grace period.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";

let serve: ServeProcess;
let socket: Socket | undefined;
let peer: Socket | undefined;

beforeAll(async () => {
  serve = await spawnServe(["--execution-provider=cpu", "--drain-timeout-ms=60000"]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(() => {
  socket?.destroy();
  peer?.destroy();
  if (serve?.child.exitCode === null) serve.child.kill("SIGKILL");
});

it("exits 0 after SIGTERM while a keep-alive HTTP connection is half way through sending a request and a gRPC peer never closes its side", async () => {
  // An HTTP/2 client preface and an empty SETTINGS frame, then nothing: the socket stays open even
  // after the server's FIN (allowHalfOpen), as a stuck proxy's would.
  const stuck = connect({ port: serve.grpcPort, host: "127.0.0.1", allowHalfOpen: true });
  peer = stuck;
  stuck.on("error", () => {});
  stuck.resume();
  await new Promise<void>((resolve) => stuck.once("connect", () => resolve()));
  stuck.write(
    Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
    ]),
  );

  const connected = connect(serve.httpPort, "127.0.0.1");
  socket = connected;
  const closedByServer = new Promise<void>((resolve) => connected.once("close", () => resolve()));
  connected.on("error", () => {}); // should the server cut the connection, the answer check below fails
  let received = "";
  connected.on("data", (chunk: Buffer) => (received += chunk.toString()));
  await new Promise<void>((resolve) => connected.once("connect", () => resolve()));
  const body = JSON.stringify({ input: "a request whose body never finishes", model: "all-MiniLM-L6-v2" });
  connected.write(
    "POST /v1/embeddings HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive\r\n" +
      `content-type: application/json\r\ncontent-length: ${body.length + 100}\r\n\r\n${body}`,
  );
  // One event loop reads both connections: once a later request on another connection is answered,
  // the server has parsed our headers and is waiting for the rest of the body.
  expect((await fetch(`http://127.0.0.1:${serve.httpPort}/healthz`)).status).toBe(200);

  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
  await closedByServer;
  expect(received).toMatch(/^HTTP\/1\.1 503 /);
  expect(received).toMatch(/\r\nconnection: close\r\n/i);
  expect(received).toContain('"code":"JUDE_SERVING_DRAINING"');
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
});
