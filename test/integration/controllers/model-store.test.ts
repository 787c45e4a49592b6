// The operator's kept store connections against a private redis-server that is killed and restarted:
// while a store's connection is down, opening it fails at once with the store's name, its endpoint and
// the connection's error, instead of handing out a store whose every command waits out reconnects
// (a reconcile would hold one of the operator's workers for seconds per command). Once Redis answers
// again, the same kept connection is used.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelStores } from "../../../controllers/embedding-model/model-store.ts";
import { readPointer } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { startOwnedRedis, type OwnedRedis } from "../store/redis-server.ts";

describe("the operator's store connections during a Redis outage", () => {
  const stores = new ModelStores();
  const name = `model-store-outage-${process.pid}`;
  let redis: OwnedRedis;

  beforeAll(async () => {
    redis = await startOwnedRedis();
  });

  afterAll(async () => {
    stores.close();
    await redis?.destroy();
  });

  it("refuses a down store at once, naming it, and hands out the same connection once it is back", async () => {
    const store = await stores.open(redis.url, name);
    await readPointer(store);

    await redis.kill();
    // The kept connection notices when it is next used.
    await expect(readPointer(store)).rejects.toThrow();
    const port = new URL(redis.url).port;
    await expect(stores.open(redis.url, name)).rejects.toThrow(
      `store "${name}" at redis://127.0.0.1:${port} is unreachable`,
    );
    const refused = await stores.open(redis.url, name).catch((error: unknown) => error as Error);
    expect((refused as Error).cause).toMatchObject({ message: expect.stringContaining("ECONNREFUSED") });

    await redis.restart();
    let reopened: Awaited<ReturnType<ModelStores["open"]>> | undefined;
    await waitFor(
      "the store answers again",
      async () => (reopened = await stores.open(redis.url, name).catch(() => undefined)) !== undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(reopened).toBe(store);
    await readPointer(reopened!);
  });
});
