import { getEventListeners } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "../../test/testbed/ports.ts";
import { EmbeddingClient, EmbeddingClientError } from "./client.ts";

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
    // A port nothing listens on: every call fails at once.
    const client = new EmbeddingClient({ address: `127.0.0.1:${await freePort()}`, deadlineMs: 5_000 });
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
