/**
 * The dashboard's "Abandon" when the API server applies the conditional patch but its answer is lost
 * (etcd's "request timed out" reaches the client as 500 ServerTimeout with Retry-After although the
 * write may have been committed): the plugin sends it again, meets its own change (409), and must say
 * the abandon happened, not "nothing was changed". Through a proxy in front of the testbed's API server.
 */
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { startApiFaultProxy, type ApiFaultProxy } from "../../support/api-fault-proxy.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { namespaceWithPromotingModel, startDashboard } from "./dashboard-process.ts";

const namespace = `dashboard-retry-${process.pid}`;
let proxy: ApiFaultProxy;
let plugin: ChildProcess;
let url: string;

beforeAll(async () => {
  const model = await namespaceWithPromotingModel(namespace);
  // The operator's record of the active minilm-v1, owned by the model as the API server holds it.
  const held = await kubectlJson<typeof model>(["get", "-n", namespace, "embeddingmodel/minilm"]);
  await kubectl(
    ["apply", "--server-side", "--field-manager=dashboard-test", "-f", "-"],
    JSON.stringify(
      desiredVersionRecord(held, {
        version: "minilm-v1",
        promotionStartTime: "2026-11-30T00:00:00Z",
        spec: {
          model: { ...model.spec.model, precision: "fp32" as const },
          prompts: model.spec.prompts,
          serving: model.spec.serving,
        },
      }),
    ),
  );
  proxy = await startApiFaultProxy(requireEnv("KUBECONFIG"));
  ({ plugin, url } = await startDashboard(namespace, proxy.kubeconfigPath));
}, 120_000);

afterAll(async () => {
  plugin?.kill("SIGTERM");
  await proxy?.close();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

it("says the abandon happened when its patch was applied and the answer lost", async () => {
  let patches = 0;
  proxy.setRule(({ method, path }) =>
    method === "PATCH" && path.endsWith("/embeddingmodels/minilm") && patches++ === 0
      ? { status: 500, reason: "ServerTimeout", headers: { "retry-after": "1" }, afterForwarding: true }
      : undefined,
  );
  const response = await fetch(`${url}api/models/${namespace}/minilm/rollback`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ version: "minilm-v1", abandons: "minilm-v2" }),
  });
  const model = await kubectlJson<{ spec: { version: string } }>([
    "get",
    "-n",
    namespace,
    "embeddingmodel/minilm",
  ]);
  expect(model.spec.version).toBe("minilm-v1");
  expect(await response.json()).toEqual({
    summary:
      "abandoning the promotion of minilm to minilm-v2: spec.version back to the active minilm-v1, with its recorded model, prompts and serving settings",
  });
  expect(response.status).toBe(200);
  expect(proxy.requests.filter((request) => request.injected)).toHaveLength(1);
});
