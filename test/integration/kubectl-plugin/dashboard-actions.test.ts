/**
 * The dashboard's answers, with a real API server, to requests the page does not send: an action on a
 * model the namespace does not have (404, not 400), a version that is not a string (400), and HEAD on
 * the event stream (the headers, and the response ends); and the warning its Approve confirmation shows.
 */
import type { ChildProcess } from "node:child_process";
import { request } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import type { DashboardState } from "../../../cli/kubectl-jude/dashboard/view-model.ts";
import { applyWithStatus } from "../../support/crds.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { namespaceWithPromotingModel, shownState, startDashboard } from "./dashboard-process.ts";

const namespace = `dashboard-actions-${process.pid}`;
let plugin: ChildProcess;
let url: string;

beforeAll(async () => {
  await namespaceWithPromotingModel(namespace);
  ({ plugin, url } = await startDashboard(namespace, requireEnv("KUBECONFIG")));
}, 120_000);

afterAll(async () => {
  plugin?.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

const act = (name: string, body: unknown) =>
  fetch(`${url}api/models/${namespace}/${name}/approve`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

it("answers 404 for an action on a model the namespace does not have", async () => {
  const response = await act("absent", {});
  expect([response.status, await response.json()]).toEqual([
    404,
    { error: `EmbeddingModel absent not found in namespace ${namespace}` },
  ]);
});

it("refuses a version that is not a string (400) and changes nothing", async () => {
  const response = await act("minilm", { version: 2 });
  expect([response.status, await response.json()]).toEqual([
    400,
    { error: '"version" must be a string (a version name such as v2)' },
  ]);
  const model = await kubectlJson<ReturnType<typeof promotingModel>>([
    "get",
    "-n",
    namespace,
    "embeddingmodel/minilm",
  ]);
  expect(model.spec.promotion?.approvedVersion).toBeUndefined();
});

// The model deleted and applied again mid-promotion: the operator lists no phase for minilm-v1, the
// version readers use, having no record of it. The confirmation says approving ends every rollback to it.
it("shows Approve's warning when the version readers use has no record", async () => {
  const model = promotingModel();
  model.metadata.name = "reapplied";
  model.status!.versions = model.status!.versions!.filter((entry) => entry.version === "minilm-v2");
  await applyWithStatus(model, namespace, model.status);
  const shown = async () =>
    (await shownState<DashboardState>(url)).models.find((entry) => entry.name === "reapplied");
  // Applied, then its status written: shown once the dashboard has seen the status too.
  await waitFor(
    "the re-applied model shown with its status",
    async () => (await shown())?.activeVersion === "minilm-v1",
    {
      timeoutMs: 30_000,
      intervalMs: 200,
    },
  );
  expect((await shown())!.actions.approve).toEqual({
    version: "minilm-v2",
    summary: "approved cutover of reapplied to minilm-v2",
    warning:
      "minilm-v1, the version readers use, has no record in reapplied (the model was deleted and applied again): once minilm-v2 is promoted, reapplied cannot roll back to minilm-v1",
  });
});

it("answers HEAD /api/stream with its headers and ends the response", async () => {
  const { port } = new URL(url);
  const answer = await new Promise<{ status: number | undefined; type: string | undefined }>(
    (resolve, reject) => {
      const sent = request({ host: "127.0.0.1", port, method: "HEAD", path: "/api/stream" }, (response) => {
        response.resume();
        // The socket closes once the response has ended (connection: close).
        response.socket.once("close", () =>
          resolve({ status: response.statusCode, type: response.headers["content-type"] }),
        );
      });
      sent.setHeader("connection", "close");
      sent.once("error", reject);
      sent.end();
    },
  );
  expect(answer).toEqual({ status: 200, type: "text/event-stream; charset=utf-8" });
});
