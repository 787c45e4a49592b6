// The operator behind an API server that throttles it, as API Priority and Fairness does: 429 Too
// Many Requests with Retry-After: 1, here answered by a proxy between the operator and the testbed's
// API server (whose own APF is off). Lists are refused for the first seconds, writes a while longer.
// The operator must wait the second the server asks for before trying a request again (there is no
// client-side QPS limit: honouring 429s is what keeps it from hammering a loaded server), and a
// throttle this short must not fail a reconcile: each request is retried inside the client, as
// client-go does, so no object turns ReconcileError and no informer restarts with an error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startApiFaultProxy,
  type ApiFaultProxy,
  type ProxiedRequest,
} from "../../support/api-fault-proxy.ts";
import { requireEnv } from "../../support/env.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  listObjects,
  startInProcessOperator,
} from "./operator-harness.ts";

const namespace = `operator-throttle-${process.pid}`;
const modelNames = ["a", "b", "c"];
/** Reads in the namespace are refused this long after the operator starts, writes this long. */
const readsThrottledMs = 3_000;
const writesThrottledMs = 7_000;

/** What kube-apiserver's APF filter answers a request it rejects. */
const apfRejection = {
  status: 429,
  headers: { "retry-after": "1", "content-type": "text/plain; charset=utf-8" },
  body: "Too many requests, please try again later.\n",
};

const inNamespace = (path: string) => path.includes(`/namespaces/${namespace}/`);

/** One request as the operator would repeat it: verb, path, selector and whether it watches. */
const requestKey = (request: ProxiedRequest) =>
  [request.method, request.path, request.query.get("labelSelector"), request.query.get("watch")].join(" ");

/** A counter's samples from the /metrics text, by their label text. */
function samples(metrics: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of metrics.split("\n")) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) found.set(match[1] ?? "", Number(match[2]));
  }
  return found;
}

describe("an operator throttled by the API server (429 with Retry-After)", () => {
  let proxy: ApiFaultProxy;
  let operator: ReturnType<typeof startInProcessOperator> | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    proxy = await startApiFaultProxy(requireEnv("KUBECONFIG"));
  });

  afterAll(async () => {
    await operator?.stop();
    await proxy?.close();
    await deleteNamespace(namespace);
  });

  it("waits the Retry-After before each new try, and a short throttle fails no reconcile", async () => {
    await apply(modelNames.map((name) => cpuModel(namespace, name, { replicas: 1 })));
    const startedMs = Date.now();
    proxy.setRule(({ method, path }) => {
      if (!inNamespace(path)) return undefined;
      const throttledMs = method === "GET" ? readsThrottledMs : writesThrottledMs;
      return Date.now() - startedMs < throttledMs ? apfRejection : undefined;
    });
    operator = startInProcessOperator([namespace], { kubeconfigPath: proxy.kubeconfigPath });
    await waitFor(
      "every model Ready",
      async () =>
        (await listObjects("embeddingmodels", namespace, "")).filter(
          (model) => condition(model, "Ready")?.status === "True",
        ).length === modelNames.length,
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    const seen = proxy.requests.filter((request) => inNamespace(request.path));
    const refused = seen.filter((request) => request.injected);
    expect(refused.some((request) => request.method === "GET" && request.query.has("limit"))).toBe(true);
    expect(refused.some((request) => request.method === "PATCH")).toBe(true);
    // How soon each refused request was tried again (the server asked for 1 s).
    const last = new Map<string, ProxiedRequest>();
    const retryGapsMs: number[] = [];
    for (const request of seen) {
      const previous = last.get(requestKey(request));
      if (previous?.injected) retryGapsMs.push(request.atMs - previous.atMs);
      last.set(requestKey(request), request);
    }
    console.error(
      `[api-throttling] ${refused.length} of ${seen.length} requests refused; retried after ${Math.min(...retryGapsMs)}..${Math.max(...retryGapsMs)} ms`,
    );
    expect(retryGapsMs.length).toBeGreaterThan(0);
    expect(Math.min(...retryGapsMs)).toBeGreaterThanOrEqual(950);

    const port = (operator.manager.server!.address() as { port: number }).port;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // The throttled tries are visible ...
    const requests = samples(metrics, "jude_operator_api_requests_total");
    expect(requests.get('{verb="apply",code="429"}') ?? 0).toBeGreaterThan(0);
    expect(requests.get('{verb="list",code="429"}') ?? 0).toBeGreaterThan(0);
    // ... and none reached a reconcile or an informer as a failure.
    expect([...samples(metrics, "jude_operator_reconcile_errors_total").values()]).toEqual([]);
    const restarts = [...samples(metrics, "jude_operator_watch_restarts_total").keys()];
    expect(restarts.filter((labels) => labels.includes('reason="error"'))).toEqual([]);
  });

  it("stops within its drain time while a reconcile's live read is being throttled", async () => {
    // Every reconcile of a model reads its version records live (GET configmaps/<name>). Refused for
    // good, such a read would wait out 11 tries of 10 s; shutdown waits for every reconcile before it
    // releases the Lease, and the Pod is killed 5 s after the drain time (here 10 s).
    const refusedAt: number[] = [];
    proxy.setRule(({ method, path, query }) => {
      if (method !== "GET" || !inNamespace(path) || !path.includes("/configmaps/") || query.has("watch"))
        return undefined;
      refusedAt.push(Date.now());
      return { ...apfRejection, headers: { ...apfRejection.headers, "retry-after": "10" } };
    });
    await apply([
      {
        ...cpuModel(namespace, "a", { replicas: 1 }),
        metadata: { name: "a", namespace, labels: { poke: "1" } },
      },
    ]);
    await waitFor("a live read throttled", () => refusedAt.length > 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const stopping = Date.now();
    await operator!.stop();
    const stoppedMs = Date.now() - stopping;
    operator = undefined;
    proxy.setRule(undefined);
    expect(stoppedMs).toBeLessThan(14_000);
  }, 150_000);
});
