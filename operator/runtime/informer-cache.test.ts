// What a namespaced read of the shared cache costs: every reconcile lists its own namespace's children
// and pipelines several times, so a list that looked at every cached object of the type (all
// namespaces' of a cluster-wide informer) would make one resync of n models cost n².
import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import { KubeApiError } from "./api-error.ts";
import { describeUnsynced, InformerCache } from "./informer-cache.ts";
import type { KubeClient, ListResult } from "./kube-client.ts";
import { quietKubeClient } from "../../test/support/quiet-kube-client.ts";
import { createOperatorMetrics } from "./metrics.ts";
import { resourcePath, resourceTypes } from "./resource-types.ts";
import type { KubeObject } from "./types.ts";

/** A pipeline labelled with its model, whose metadata reads are counted in `reads` (by "namespace/name"). */
function counted(namespace: string, name: string, model: string, reads: Map<string, number>): KubeObject {
  const metadata = { namespace, name, resourceVersion: "1", labels: { "jude.dev/model": model } };
  const object = { apiVersion: "jude.dev/v1alpha1", kind: "NearlinePipeline" } as KubeObject;
  Object.defineProperty(object, "metadata", {
    enumerable: true,
    get: () => {
      const id = `${namespace}/${name}`;
      reads.set(id, (reads.get(id) ?? 0) + 1);
      return metadata;
    },
  });
  return object;
}

/** A client whose lists answer `items` per collection path and whose watches wait until stopped. */
function fakeClient(items: Map<string, KubeObject[]>): KubeClient {
  return quietKubeClient(async (path) => ({ items: items.get(path) ?? [], resourceVersion: "1" }));
}

describe("InformerCache.list in one namespace", () => {
  const namespaces = Array.from({ length: 20 }, (_, index) => `team-${index}`);
  const perNamespace = 30;
  const type = resourceTypes.nearlinePipeline;

  /** 20 namespaces of 30 pipelines, of models m0..m9 (3 each), cached by `scope` informers. */
  async function filledCache(scope: "cluster-wide" | "a list of namespaces", reads: Map<string, number>) {
    const all = namespaces.flatMap((namespace) =>
      Array.from({ length: perNamespace }, (_, index) =>
        counted(namespace, `p${index}`, `m${index % 10}`, reads),
      ),
    );
    const byPath = new Map<string, KubeObject[]>();
    if (scope === "cluster-wide") byPath.set(resourcePath(type, undefined), all);
    else
      for (const namespace of namespaces)
        byPath.set(
          resourcePath(type, namespace),
          all.filter((object) => object.metadata?.namespace === namespace),
        );
    const cache = new InformerCache({
      client: fakeClient(byPath),
      ...(scope === "cluster-wide" ? {} : { namespaces }),
      log: silentLogger(),
      metrics: createOperatorMetrics(),
    });
    cache.use(type, { managedOnly: false });
    await cache.start();
    return cache;
  }

  for (const scope of ["cluster-wide", "a list of namespaces"] as const) {
    it(`reads only the objects of that namespace, and with labels only those labelled so (${scope} informers)`, async () => {
      const reads = new Map<string, number>();
      const cache = await filledCache(scope, reads);
      try {
        reads.clear();
        const listed = cache.list(type, { namespace: "team-3" });
        expect(listed).toHaveLength(perNamespace);
        expect([...reads.keys()].filter((id) => !id.startsWith("team-3/"))).toEqual([]);

        reads.clear();
        const labelled = cache.list(type, { namespace: "team-3", labels: { "jude.dev/model": "m1" } });
        expect(labelled.map((object) => object.metadata?.name).sort()).toEqual(["p1", "p11", "p21"]);
        // What a model's reconcile reads: its own three pipelines, not the namespace's thirty.
        expect([...reads.keys()].sort()).toEqual(["team-3/p1", "team-3/p11", "team-3/p21"]);

        expect(cache.list(type, { namespace: "team-3", labels: { "jude.dev/model": "none" } })).toEqual([]);
        expect(
          cache.list(type, { namespace: "team-3", labels: { "jude.dev/model": "m1", other: "x" } }),
        ).toEqual([]);
        // Without a namespace the list is still every object of every namespace.
        expect(cache.list(type)).toHaveLength(namespaces.length * perNamespace);
        expect(cache.list(type, { labels: { "jude.dev/model": "m1" } })).toHaveLength(namespaces.length * 3);
      } finally {
        await cache.stop();
      }
    });
  }

  it("keeps its index in step with changes, removals and label changes", async () => {
    const type = resourceTypes.nearlinePipeline;
    const pipeline = (namespace: string, name: string): KubeObject => ({
      kind: "NearlinePipeline",
      metadata: { namespace, name, resourceVersion: "1" },
    });
    const events: ((event: { type: string; object: KubeObject }) => void)[] = [];
    const client = {
      list: async (): Promise<ListResult> => ({
        items: [pipeline("a", "one"), pipeline("a", "two"), pipeline("b", "one")],
        resourceVersion: "1",
      }),
      watch: async (
        _path: string,
        _query: unknown,
        handlers: { onConnected: () => void; onEvent: (event: { type: string; object: KubeObject }) => void },
        signal: AbortSignal,
      ) => {
        handlers.onConnected();
        events.push(handlers.onEvent);
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      },
    } as unknown as KubeClient;
    const cache = new InformerCache({ client, log: silentLogger(), metrics: createOperatorMetrics() });
    cache.use(type, { managedOnly: false });
    await cache.start();
    try {
      await expect.poll(() => events.length).toBe(1);
      events[0]!({ type: "DELETED", object: pipeline("a", "two") });
      events[0]!({
        type: "MODIFIED",
        object: { ...pipeline("a", "one"), metadata: { namespace: "a", name: "one", resourceVersion: "2" } },
      });
      const names = (namespace: string) =>
        cache.list(type, { namespace }).map((object) => object.metadata?.name);
      expect(names("a")).toEqual(["one"]);
      expect(cache.list(type, { namespace: "a" })[0]?.metadata?.resourceVersion).toBe("2");
      expect(names("b")).toEqual(["one"]);
      events[0]!({ type: "DELETED", object: pipeline("b", "one") });
      expect(names("b")).toEqual([]);
      // A label changed: the object leaves the old label's index and joins the new one's.
      const labelled = (model: string, resourceVersion: string): KubeObject => ({
        kind: "NearlinePipeline",
        metadata: { namespace: "a", name: "one", resourceVersion, labels: { "jude.dev/model": model } },
      });
      events[0]!({ type: "MODIFIED", object: labelled("x", "3") });
      events[0]!({ type: "MODIFIED", object: labelled("y", "4") });
      const ofModel = (model: string) =>
        cache
          .list(type, { namespace: "a", labels: { "jude.dev/model": model } })
          .map((o) => o.metadata?.name);
      expect(ofModel("x")).toEqual([]);
      expect(ofModel("y")).toEqual(["one"]);
    } finally {
      await cache.stop();
    }
  });
});

describe("InformerCache.health, which /readyz shows to anyone who can reach the port", () => {
  /** The health of one informer whose lists all fail with `error`. */
  async function failingWith(error: Error) {
    const client = {
      list: async () => Promise.reject(error),
      watch: async () => Promise.reject(error),
    } as unknown as KubeClient;
    const cache = new InformerCache({ client, log: silentLogger(), metrics: createOperatorMetrics() });
    cache.use(resourceTypes.nearlinePipeline, { managedOnly: false });
    await cache.start();
    try {
      const [health] = cache.health();
      expect(health?.failure).toBe(health?.syncError);
      return health?.syncError ?? "";
    } finally {
      await cache.stop();
    }
  }

  it("names no credentials: a URL's user and password, a bearer token", async () => {
    // fetch's own message for a server URL with credentials in it; an exec plugin's stderr.
    const url = await failingWith(
      new TypeError(
        "Request cannot be constructed from a URL that includes credentials: https://admin:s3cret@10.0.0.1:6443/apis/jude.dev/v1alpha1/nearlinepipelines?limit=500",
      ),
    );
    expect(url).not.toContain("s3cret");
    expect(url).not.toContain("admin:");
    expect(url).toContain("https://***@10.0.0.1:6443/apis/jude.dev/v1alpha1/nearlinepipelines");
    const bearer = await failingWith(
      new Error("POST https://sts: 400, sent Authorization: Bearer eyJhbGciOi.J9.x-y_z="),
    );
    expect(bearer).not.toContain("eyJhbGciOi");
    expect(bearer).toContain("Bearer ***");
  });

  it("is one bounded line: control characters escaped, a long answer cut", async () => {
    const forged = await failingWith(new Error("bad\n[+]informer:fake ok\r\u001b[2J\u0000"));
    expect(forged).toBe("bad\\n[+]informer:fake ok\\r\\u001b[2J\\u0000");
    const page = `watch /apis: 500 <html>${"x".repeat(20_000)}</html>`;
    const long = await failingWith(new Error(page));
    expect(long.length).toBeLessThanOrEqual(600);
    expect(long.startsWith("watch /apis: 500 <html>xxx")).toBe(true);
    expect(long).toMatch(/… \(\d+ more characters\)$/);
  });
});

describe("InformerCache.unsyncedIn", () => {
  const type = resourceTypes.deployment;
  const refusal = (namespace: string) =>
    new KubeApiError(
      403,
      `GET ${resourcePath(type, namespace)}: 403 Forbidden deployments.apps is forbidden: User "system:serviceaccount:ops:operator" cannot list resource "deployments" in API group "apps" in the namespace "${namespace}"\nAuthorization: Bearer abc.def`,
      "Forbidden",
    );

  /** A cache of Deployments over `namespaces` (undefined: all) whose list of `refused` is refused. */
  async function started(namespaces: string[] | undefined, refused: string | undefined) {
    const client = fakeClient(new Map());
    const list = client.list.bind(client);
    client.list = async (path, ...rest) => {
      if (path === resourcePath(type, refused)) throw refusal(refused ?? "");
      return list(path, ...rest);
    };
    const cache = new InformerCache({
      client,
      ...(namespaces !== undefined ? { namespaces } : {}),
      log: silentLogger(),
      metrics: createOperatorMetrics(),
    });
    cache.use(type, { managedOnly: true });
    await cache.start();
    return cache;
  }

  it("names the refused namespace's informer, and only for that namespace", async () => {
    const cache = await started(["team-a", "team-b"], "team-b");
    expect(cache.unsyncedIn("team-a", [type])).toEqual([]);
    expect(cache.syncedIn("team-a", [type])).toBe(true);
    const unsynced = cache.unsyncedIn("team-b", [type]);
    expect(unsynced.map(({ resource, namespace }) => ({ resource, namespace }))).toEqual([
      { resource: "deployments.apps", namespace: "team-b" },
    ]);
    expect(cache.syncedIn("team-b", [type])).toBe(false);
    const described = describeUnsynced(unsynced)!;
    expect(described.forbidden).toBe(true);
    expect(described.message).toMatch(
      /^cannot list deployments\.apps in namespace team-b, which the operator's RBAC does not allow \(see the rules of the chart's templates\/rbac\.yaml\): GET \/apis\/apps\/v1\/namespaces\/team-b\/deployments: 403 Forbidden .*cannot list resource "deployments"/,
    );
    // One line, without the credential.
    expect(described.message).not.toContain("\n");
    expect(described.message).not.toContain("abc.def");
    await cache.stop();
  });

  it("names an informer whose watch and list are refused after it listed, and tells who listens", async () => {
    const client = fakeClient(new Map());
    const list = client.list.bind(client);
    const watch = client.watch.bind(client);
    const teamB = resourcePath(type, "team-b");
    let teamBLists = 0;
    // team-b's first list succeeds; then the Role is narrowed: its watch and later lists are refused.
    client.list = async (path, ...rest) => {
      if (path === teamB && ++teamBLists > 1) throw refusal("team-b");
      return list(path, ...rest);
    };
    client.watch = async (path, ...rest) => {
      if (path === teamB) throw refusal("team-b");
      return watch(path, ...rest);
    };
    const cache = new InformerCache({
      client,
      namespaces: ["team-a", "team-b"],
      log: silentLogger(),
      metrics: createOperatorMetrics(),
    });
    cache.use(type, { managedOnly: true });
    const refused: [string, string | undefined][] = [];
    cache.onRefused((resource, namespace) => refused.push([resource, namespace]));
    await cache.start();
    await vi.waitFor(() => expect(cache.syncedIn("team-b", [type])).toBe(false));
    expect(cache.syncedIn("team-a", [type])).toBe(true);
    expect(refused).toEqual([["deployments.apps", "team-b"]]);
    expect(describeUnsynced(cache.unsyncedIn("team-b", [type]))!.message).toMatch(
      /^cannot list deployments\.apps in namespace team-b, which the operator's RBAC does not allow/,
    );
    await cache.stop();
  });

  it("names only the informers of the types asked about", async () => {
    const cache = await started(["team-a", "team-b"], "team-b");
    // A reconcile that reads no Deployments is not held back by their refused list.
    expect(cache.unsyncedIn("team-b", [resourceTypes.job, resourceTypes.bootstrapRun])).toEqual([]);
    expect(cache.syncedIn("team-b", [resourceTypes.job])).toBe(true);
    expect(cache.unsyncedIn("team-b", [resourceTypes.job, type])).toHaveLength(1);
    expect(cache.syncedIn("team-b", [type])).toBe(false);
    await cache.stop();
  });

  it("names all namespaces when the cluster-wide list is refused, for every namespace", async () => {
    const cache = await started(undefined, undefined);
    expect(cache.unsyncedIn("team-a", [type])).toHaveLength(1);
    expect(describeUnsynced(cache.unsyncedIn("anything", [type]))!.message).toMatch(
      /^cannot list deployments\.apps in all namespaces, which the operator's RBAC/,
    );
    await cache.stop();
  });

  it("says nothing while no list has failed, and tells a server error from a refusal", () => {
    const entry = { resource: "deployments.apps", namespaced: true, namespace: "team-a" };
    expect(describeUnsynced([{ ...entry, error: undefined }])).toBeUndefined();
    const failed = describeUnsynced([{ ...entry, error: new KubeApiError(500, "GET x: 500 boom") }])!;
    expect(failed).toEqual({
      message: "cannot list deployments.apps in namespace team-a: GET x: 500 boom",
      forbidden: false,
    });
    const several = describeUnsynced([
      { ...entry, error: new KubeApiError(403, "no") },
      { resource: "nodes", namespaced: false, namespace: undefined, error: new KubeApiError(403, "no") },
    ])!;
    expect(several.message).toMatch(
      /^cannot list deployments\.apps in namespace team-a, .* \(and 1 more resource lists\): no$/,
    );
  });

  it("does not blame RBAC for credentials the API server did not accept (401)", () => {
    const entry = { resource: "deployments.apps", namespaced: true, namespace: "team-a" };
    // A service-account token being rotated: the client re-reads it; not reported at once, nor as RBAC.
    expect(describeUnsynced([{ ...entry, error: new KubeApiError(401, "GET x: 401 Unauthorized") }])).toEqual(
      {
        message: "cannot list deployments.apps in namespace team-a: GET x: 401 Unauthorized",
        forbidden: false,
      },
    );
  });
});
