/**
 * Request bodies the serving integration tests upload: a large body streamed in chunks (its length
 * undeclared), and a slow upload that holds part of the server's body budget.
 */
import { request, type ClientRequest } from "node:http";

/**
 * A JSON body `{"input":"xxx…"}` of about `bytes` bytes as a stream of `chunkBytes` chunks (sent
 * chunked). With `held`, the stream awaits it once its first chunk (`{"input":"`) is read, before the rest.
 */
export function streamedBody(
  bytes: number,
  chunkBytes = 64 * 1024,
  held?: () => Promise<void>,
): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode("x".repeat(chunkBytes));
  let sent = 0;
  const next = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
    if (sent >= bytes) {
      controller.enqueue(new TextEncoder().encode('"}'));
      controller.close();
      return;
    }
    sent += chunk.length;
    controller.enqueue(chunk);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"input":"'));
    },
    pull(controller) {
      if (sent === 0 && held !== undefined) return held().then(() => next(controller));
      next(controller);
    },
  });
}

/**
 * A POST to `/v1/embeddings` on 127.0.0.1:`port` that declares a body of `declaredBytes` but sends
 * only `sentBytes` of it, and then waits; the caller destroys it at the end of its test.
 */
export function slowUpload(
  port: number,
  declaredBytes: number,
  sentBytes: number,
  headers: Record<string, string> = {},
): ClientRequest {
  const upload = request({
    host: "127.0.0.1",
    port,
    path: "/v1/embeddings",
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(declaredBytes), ...headers },
  });
  upload.on("error", () => undefined); // destroyed at the end of the test
  upload.write(Buffer.alloc(sentBytes, 0x20));
  return upload;
}
