import { getEventListeners } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "./client.ts";

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("EmbeddingClient and abort signals", () => {
  it("cancels a call whose signal has already fired instead of letting it run to its deadline", async () => {
    // A silent peer: the call would wait for its 60 s deadline.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const client = new EmbeddingClient({
      address: `127.0.0.1:${(silent.address() as { port: number }).port}`,
      deadlineMs: 60_000,
    });
    try {
      const error = await client
        .embed(["x"], { signal: AbortSignal.abort() })
        .catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(EmbeddingClientError);
      expect((error as EmbeddingClientError).statusName).toBe("CANCELLED");
    } finally {
      client.close();
      silent.close();
    }
  });

  it("leaves no listener on a long-lived signal once its calls are over", async () => {
    const client = new EmbeddingClient({ address: `127.0.0.1:${await closedPort()}`, deadlineMs: 5_000 });
    const shutdown = new AbortController();
    try {
      for (let call = 0; call < 20; call++)
        await client.embed(["x"], { signal: shutdown.signal }).catch(() => undefined);
      expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
    } finally {
      client.close();
    }
  });
});
