/**
 * The drain's end must not wait 5 s for a body still trickling in. At the drain's end the HTTP
 * listener answers a request whose body is still arriving 503 DRAINING once the rest of its body is
 * dropped (drain-upload.test.ts), but that drop waited up to 5 s (the limit for a refusal while
 * serving) and only then did the listener's 1 s cut start: one client sending its body slowly, with
 * no token needed for a refusal, held the HTTP listener's close 6 s past the drain's deadline, past
 * the 5 s margin the operator adds to drainTimeoutMs in terminationGracePeriodSeconds (the kubelet
 * then kills the pod), and past a second signal's "now". The drop at the close is bounded by the
 * listener's 1 s grace; the client still reads its 503.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";

let serve: ServeProcess;
beforeAll(async () => {
  serve = await spawnServe(["--execution-provider=cpu"]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(async () => {
  if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
  await serve.exited;
});

it("a body trickling in when the drain ends is answered 503 without holding the shutdown", async () => {
  const socket: Socket = connect(serve.httpPort, "127.0.0.1");
  let received = "";
  const continued = Promise.withResolvers<void>();
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    if (received.startsWith("HTTP/1.1 100")) continued.resolve();
  });
  // "Expect: 100-continue": the 100 says the route is reading the body.
  socket.write(
    "POST /v1/embeddings HTTP/1.1\r\nHost: jude\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  );
  await continued.promise;
  const piece = '"' + "x".repeat(64) + '",';
  const send = (text: string): void => {
    if (!socket.destroyed) socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
  };
  send('{"input":[');
  // The body never ends: a few bytes now and then until the server closes the connection.
  const trickle = setInterval(() => send(piece), 100);
  try {
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    await closed;
  } finally {
    clearInterval(trickle);
    socket.destroy();
  }
  expect(received).toMatch(/HTTP\/1\.1 503 [^\r]*\r\n[\s\S]*JUDE_SERVING_DRAINING/);
  expect(serve.logs.filter((line) => line.msg === "shutdown is taking long")).toEqual([]);
});
