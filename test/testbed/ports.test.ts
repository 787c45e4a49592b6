import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freeClusterPort, freePort } from "./ports.ts";

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

describe("freePort", () => {
  it("never hands this process the same port twice, though the kernel may offer a closed one again", async () => {
    // A Kafka broker once got one port for two listeners ("If you have two listeners on the same port
    // then one needs to be IPv4 and the other IPv6"): the kernel offered a port just closed again.
    const ports = new Set<number>();
    for (let index = 0; index < 3000; index++) ports.add(await freePort());
    expect(ports.size).toBe(3000);
  });
});
