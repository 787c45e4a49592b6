/**
 * SIGTERM while an HTTP connection is busy but holds no embedding call (a client still uploading its
 * body, as a slow client or a probe caught mid-request would): the drain does not wait for it, and the
 * listener's close must not either. Before the listener cut such connections, `jude serve` stayed up
 * until the client gave up or the server's request timeout passed, past any pod grace period.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";

let serve: ServeProcess;
let socket: Socket | undefined;

beforeAll(async () => {
  serve = await spawnServe(["--execution-provider=cpu", "--drain-timeout-ms=60000"]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(() => {
  socket?.destroy();
  if (serve?.child.exitCode === null) serve.child.kill("SIGKILL");
});

it("exits 0 after SIGTERM while a keep-alive connection is half way through sending a request", async () => {
  const connected = connect(serve.httpPort, "127.0.0.1");
  socket = connected;
  const closedByServer = new Promise<void>((resolve) => connected.once("close", () => resolve()));
  connected.on("error", () => {}); // the server cuts the connection: that is the point
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
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
});
