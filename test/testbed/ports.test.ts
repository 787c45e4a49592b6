import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freeClusterPort } from "./ports.ts";

describe("freeClusterPort", () => {
  it("gives ports a Redis Cluster node can use: at most 55535, with port + 10000 free for its bus", async () => {
    for (let index = 0; index < 40; index++) {
      const port = await freeClusterPort();
      expect(port).toBeLessThanOrEqual(55_535);
      await new Promise<void>((resolveBind, reject) => {
        const server = createServer();
        server.on("error", reject);
        server.listen(port + 10_000, "127.0.0.1", () => server.close(() => resolveBind()));
      });
    }
  });
});
