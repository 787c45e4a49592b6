// The dashboard server's answers to requests the page never sends (another namespace, another method),
// with a hub and a cluster that only record what they are asked: no API server is involved.
import { afterEach, describe, expect, it } from "vitest";
import { promotingModel } from "../fixtures.test-data.ts";
import { startDashboardServer, type DashboardServer } from "./server.ts";
import type { WatchHub } from "./watch-hub.ts";

const hub = { state: () => ({ models: [] }), subscribe: () => () => undefined } as unknown as WatchHub;

let server: DashboardServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server for `namespace` (undefined: all) whose cluster records the calls it gets. */
async function start(namespace: string | undefined) {
  const calls: string[] = [];
  const cluster = {
    readModel: async (ns: string, name: string) => {
      calls.push(`read ${ns}/${name}`);
      const model = promotingModel();
      model.metadata.namespace = ns;
      model.metadata.name = name;
      return model;
    },
    readVersionRecords: async () => [],
    patchModelSpec: async (ns: string, name: string) => {
      calls.push(`patch ${ns}/${name}`);
      return true;
    },
  };
  server = await startDashboardServer({
    hub,
    cluster,
    port: 0,
    ...(namespace !== undefined && { namespace }),
  });
  return { calls, url: server.url };
}

const approveIn = (url: string, namespace: string) =>
  fetch(`${url}api/models/${namespace}/minilm/approve`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });

describe("dashboard server", () => {
  it("changes no model outside the namespace it shows", async () => {
    // Was: `kubectl jude dashboard -n recs` approved (patched) a model in kube-system when asked.
    const { calls, url } = await start("recs");
    const response = await approveIn(url, "kube-system");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: "this dashboard shows namespace recs: no model kube-system/minilm here",
    });
    expect(calls).toEqual([]);
    expect((await approveIn(url, "recs")).status).toBe(200);
    expect(calls).toEqual(["read recs/minilm", "patch recs/minilm"]);
  });

  it("acts in any namespace when it shows them all (-A)", async () => {
    const { calls, url } = await start(undefined);
    expect((await approveIn(url, "team-a")).status).toBe(200);
    expect(calls).toEqual(["read team-a/minilm", "patch team-a/minilm"]);
  });

  it("names the methods it allows when it refuses one (405 with Allow)", async () => {
    const { url } = await start("recs");
    for (const method of ["PUT", "DELETE", "OPTIONS"]) {
      const response = await fetch(url, { method });
      expect([method, response.status, response.headers.get("allow")]).toEqual([
        method,
        405,
        "GET, HEAD, POST",
      ]);
    }
  });
});
