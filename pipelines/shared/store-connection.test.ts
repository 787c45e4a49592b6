import { createServer, type AddressInfo, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isStoreOutage } from "../../store/index.ts";
import { openPipelineStore } from "./store-connection.ts";

/** A store that accepts connections and never answers (a stalled host, a frozen link). */
async function silentStore(): Promise<{ server: Server; port: number }> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("openPipelineStore", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it.each([false, true])(
    "fails an open under way at once when its signal aborts (cluster: %s), as an outage",
    async (cluster) => {
      const silent = await silentStore();
      server = silent.server;
      process.env["JUDE_TEST_SILENT_STORE"] = cluster
        ? `127.0.0.1:${silent.port}`
        : `redis://127.0.0.1:${silent.port}`;
      const abort = new AbortController();
      const opening = openPipelineStore(
        { name: "silent", url: { env: "JUDE_TEST_SILENT_STORE" }, cluster },
        { connectionName: "silent-open", signal: abort.signal },
      );
      opening.catch(() => undefined);
      await new Promise<void>((resolve) => silent.server.once("connection", () => resolve()));
      abort.abort();
      // Without the drop the open waits for its command timeout (10 s): past this test's own timeout.
      const failure: unknown = await opening.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isStoreOutage(failure), String(failure)).toBe(true);
    },
  );
});
