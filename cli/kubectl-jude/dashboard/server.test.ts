// The dashboard server's answers to requests the page never sends (another namespace, another method),
// with a hub and a cluster that only record what they are asked: no API server is involved.
import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { Cluster, explainApiError } from "../cluster.ts";
import { kubeconfigFor, promotingModel } from "../fixtures.test-data.ts";
import { startDashboardServer, type DashboardServer } from "./server.ts";
import type { WatchHub } from "./watch-hub.ts";

/** The API server's Status for `code`, as the client library keeps it in an ApiException. */
const apiStatus = (code: number, message: string) =>
  new ApiException(code, "", JSON.stringify({ kind: "Status", code, message }), {});

/** What the API server (or the network) answers for these model names. */
const failures: Record<string, unknown> = {
  absent: new ApiException(404, "Not Found", {}, {}),
  denied: apiStatus(
    403,
    'embeddingmodels.jude.dev "denied" is forbidden: User "system:serviceaccount:recs:viewer" cannot get resource "embeddingmodels"',
  ),
  expired: apiStatus(401, "Unauthorized"),
  unreachable: new TypeError("fetch failed", {
    cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
  }),
};

/** What the API server answers a patch of these model names with. */
const patchFailures: Record<string, unknown> = {
  invalid: apiStatus(
    422,
    'EmbeddingModel.jude.dev "invalid" is invalid: spec.version: Invalid value: "v1": spec.version is immutable while a BootstrapRun fills it',
  ),
  conflicting: apiStatus(
    409,
    'Operation cannot be fulfilled on embeddingmodels.jude.dev "conflicting": the object has been modified',
  ),
};

const hub = {
  state: () => ({ models: [] }),
  subscribe: () => () => undefined,
  refreshPermissions: () => undefined,
  recheckPermissions: () => undefined,
} as unknown as WatchHub;

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
      // What Cluster.readModel throws for a model the API server does not have, and for an API
      // server that refuses the credentials or the right, or that cannot be reached.
      const failure = failures[name];
      if (failure !== undefined)
        throw explainApiError(failure, {
          verb: "get",
          kind: "EmbeddingModel",
          namespace: ns,
          name,
          user: "u",
          server: "https://127.0.0.1:1",
        });
      const model = promotingModel();
      model.metadata.namespace = ns;
      model.metadata.name = name;
      return model;
    },
    readVersionRecords: async () => [],
    patchModelSpec: async (ns: string, name: string) => {
      calls.push(`patch ${ns}/${name}`);
      const failure = patchFailures[name];
      if (failure !== undefined)
        throw explainApiError(failure, {
          verb: "patch",
          kind: "EmbeddingModel",
          namespace: ns,
          name,
          user: "u",
          server: "https://127.0.0.1:1",
        });
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

  it("answers 404, not 400, for an action on a model that does not exist", async () => {
    const { calls, url } = await start("recs");
    const response = await fetch(`${url}api/models/recs/absent/approve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect([response.status, await response.json()]).toEqual([
      404,
      { error: "EmbeddingModel absent not found in namespace recs" },
    ]);
    expect(calls).toEqual(["read recs/absent"]);
  });

  it("passes the API server's 401 and 403 through with its message, and answers 502 when it cannot reach it", async () => {
    // Was: 400 for all three, as if the page had sent a bad request.
    const { url } = await start("recs");
    const answer = (name: string) => approveAnswer(url, name);
    expect(await answer("denied")).toEqual([
      403,
      `access denied: u may not get embeddingmodels.jude.dev in namespace recs (ask for a Role that grants it, such as Kubernetes' view role with the chart's userRoles); the API server says: embeddingmodels.jude.dev "denied" is forbidden: User "system:serviceaccount:recs:viewer" cannot get resource "embeddingmodels"`,
    ]);
    expect(await answer("expired")).toEqual([
      401,
      "the cluster (https://127.0.0.1:1) does not accept the credentials of u (401 Unauthorized): the token or certificate in the kubeconfig is invalid or expired; log in again; the API server says: Unauthorized",
    ]);
    expect(await answer("unreachable")).toEqual([
      502,
      "cannot reach the cluster (https://127.0.0.1:1): connect ECONNREFUSED 127.0.0.1:1",
    ]);
  });

  it("passes the API server's refusal of the change (409, 422) through with its message, not as a 502", async () => {
    // The API server answered, and refused this change (an admission webhook or the CRD's rules, a
    // conflicting write): not a gateway failure, and nothing the page sent was malformed.
    const { calls, url } = await start("recs");
    const answer = (name: string) => approveAnswer(url, name);
    expect(await answer("invalid")).toEqual([
      422,
      'cannot patch embeddingmodels in namespace recs: HTTP 422 (EmbeddingModel.jude.dev "invalid" is invalid: spec.version: Invalid value: "v1": spec.version is immutable while a BootstrapRun fills it)',
    ]);
    expect(await answer("conflicting")).toEqual([
      409,
      'cannot patch embeddingmodels in namespace recs: HTTP 409 (Operation cannot be fulfilled on embeddingmodels.jude.dev "conflicting": the object has been modified)',
    ]);
    expect(calls).toEqual([
      "read recs/invalid",
      "patch recs/invalid",
      "read recs/conflicting",
      "patch recs/conflicting",
    ]);
  });

  it("answers 400, asking the API server nothing, for a namespace or model name no EmbeddingModel can have", async () => {
    // The real Cluster, on a kubeconfig whose API server refuses connections: a name sent on would be
    // answered 502 (cannot reach the cluster); one refused before any request is the page's mistake.
    const kubeconfig = kubeconfigFor(mkdtempSync(join(tmpdir(), "dashboard-names-")), "config", 1);
    server = await startDashboardServer({ hub, cluster: new Cluster({ kubeconfig }), port: 0 });
    const answer = async (path: string): Promise<[number, string]> => {
      const response = await fetch(`${server!.url}api/models/${path}/approve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return [response.status, ((await response.json()) as { error: string }).error];
    };
    expect(await answer("recs/minilm.v2")).toEqual([
      400,
      `invalid EmbeddingModel name "minilm.v2": an EmbeddingModel's name is lowercase letters, digits and '-' (no dots), starting and ending with a letter or digit, at most 253 characters`,
    ]);
    expect(await answer("recs/-minilm")).toEqual([
      400,
      expect.stringMatching(/^invalid EmbeddingModel name "-minilm": /),
    ]);
    // Capitals too, as `kubectl jude approve MiniLM` refuses them: was a 404 "no action at …".
    expect(await answer("recs/MiniLM")).toEqual([
      400,
      expect.stringMatching(/^invalid EmbeddingModel name "MiniLM": /),
    ]);
    expect(await answer("Recs/minilm")).toEqual([400, expect.stringMatching(/^invalid namespace "Recs": /)]);
    expect(await answer(`${"n".repeat(64)}/minilm`)).toEqual([
      400,
      expect.stringMatching(/^invalid namespace "n{64}": a namespace is lowercase letters, digits and '-'/),
    ]);
    expect(await answer("recs/minilm")).toEqual([502, expect.stringMatching(/^cannot reach the cluster/)]);
  });

  it("refuses a version or abandons that is not a string (400), instead of ignoring it", async () => {
    // Was: {"version": 2} approved whatever version was pending, as if no version had been named.
    const { calls, url } = await start("recs");
    for (const body of [{ version: 2 }, { version: null }, { abandons: ["v2"] }]) {
      const response = await fetch(`${url}api/models/recs/minilm/approve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const field = Object.keys(body)[0];
      expect([response.status, await response.json()]).toEqual([
        400,
        { error: `"${field}" must be a string (a version name such as v2)` },
      ]);
    }
    expect(calls).toEqual([]);
  });

  it("answers HEAD /api/stream with the headers alone and ends the response", async () => {
    // Was: the event stream was opened for HEAD too, and the response never ended (a held connection).
    const { url } = await start("recs");
    const { port } = new URL(url);
    const socket = connect(Number(port), "127.0.0.1");
    socket.write(`HEAD /api/stream HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`);
    let answer = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => (answer += chunk));
    // With `connection: close` the server closes the socket once the response has ended.
    await new Promise((resolve) => socket.once("end", resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.toLowerCase()).toContain("content-type: text/event-stream");
  });
});

/** The status and error message the dashboard at `url` answers to approving model `name` in recs. */
async function approveAnswer(url: string, name: string): Promise<[number, string]> {
  const response = await fetch(`${url}api/models/recs/${name}/approve`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  return [response.status, ((await response.json()) as { error: string }).error];
}
