import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { KubeClient } from "../../operator/runtime/kube-client.ts";
import { emptyClusterAnswer, judeApiResources, kubeconfigFor, notFoundStatus } from "./fixtures.test-data.ts";
import {
  accessDenied,
  Cluster,
  connectionFailure,
  explainApiError,
  formatDuration,
  loadKubeConfig,
  parseRequestTimeout,
  RequestTimeout,
  retryDelayMs,
  userDescription,
} from "./cluster.ts";

const call = {
  verb: "list",
  kind: "EmbeddingModel",
  namespace: "recs",
  user: "alice",
  server: "https://k8s:6443",
};

/** Answers a request with `status` and `body` as JSON, and `headers`. */
type Json = (status: number, body: unknown, headers?: Record<string, string>) => void;

/**
 * Runs `test` with a Cluster (retry delays capped at 50 ms) of an HTTP server in the API server's
 * place that answers each request as `handle` says; closes the server after.
 */
async function withFakeApiServer(
  handle: (request: IncomingMessage, json: Json) => void,
  test: (cluster: Cluster) => Promise<void>,
): Promise<void> {
  const server = createServer((request, response) =>
    handle(request, (status, body, headers = {}) => {
      response.writeHead(status, { "content-type": "application/json", ...headers });
      response.end(JSON.stringify(body));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-api-"));
    const kubeconfig = kubeconfigFor(folder, "config", (server.address() as AddressInfo).port);
    await test(new Cluster({ kubeconfig, maxRetryDelayMs: 50 }));
  } finally {
    server.close();
  }
}

describe("API errors the plugin explains", () => {
  it("says the CRDs are missing when a list of a JUDE kind is not found", () => {
    expect(explainApiError(new ApiException(404, "not found", {}, {}), call).message).toMatch(
      /embeddingmodels\.jude\.dev\) are not installed in this cluster: install the operator/,
    );
  });

  it("names a missing object", () => {
    expect(
      explainApiError(new ApiException(404, "", {}, {}), { ...call, verb: "get", name: "minilm" }).message,
    ).toBe("EmbeddingModel minilm not found in namespace recs");
  });

  it("names the user, verb and resource when access is denied", () => {
    expect(explainApiError(new ApiException(403, "", {}, {}), { ...call, verb: "patch" }).message).toBe(
      "access denied: alice may not patch embeddingmodels.jude.dev in namespace recs (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)",
    );
  });

  it("quotes an admission policy's or webhook's refusal (also 403) instead of asking for a role the user has", () => {
    const patch = { ...call, verb: "patch", name: "minilm" };
    const webhook = {
      kind: "Status",
      code: 403,
      message:
        'admission webhook "validation.gatekeeper.sh" denied the request: [owner-label] missing label team',
    };
    expect(explainApiError(new ApiException(403, "", webhook, {}), patch).message).toBe(
      'cannot patch embeddingmodels in namespace recs: HTTP 403 (admission webhook "validation.gatekeeper.sh" denied the request: [owner-label] missing label team)',
    );
    const policy = {
      kind: "Status",
      code: 403,
      reason: "Forbidden",
      message:
        "embeddingmodels.jude.dev \"minilm\" is forbidden: ValidatingAdmissionPolicy 'freeze' with binding 'freeze-recs' denied request: no rollouts on Fridays",
    };
    expect(explainApiError(new ApiException(403, "", policy, {}), patch).message).toMatch(
      /^cannot patch embeddingmodels in namespace recs: HTTP 403 \(.*ValidatingAdmissionPolicy 'freeze' .* no rollouts on Fridays\)$/,
    );
    // RBAC's own refusal still asks for the role.
    const rbac = {
      kind: "Status",
      code: 403,
      reason: "Forbidden",
      message:
        'embeddingmodels.jude.dev "minilm" is forbidden: User "alice" cannot patch resource "embeddingmodels" in API group "jude.dev" in the namespace "recs"',
    };
    expect(explainApiError(new ApiException(403, "", rbac, {}), patch).message).toMatch(
      /^access denied: alice may not patch .* such as Kubernetes' edit role with the chart's userRoles\)$/,
    );
  });

  it("names a core resource without the JUDE group (rollback reads the version record ConfigMaps)", () => {
    const configMaps = { ...call, kind: "ConfigMap" };
    expect(explainApiError(new ApiException(403, "", {}, {}), configMaps).message).toBe(
      "access denied: alice may not list configmaps in namespace recs (ask for a Role that grants it, such as Kubernetes' view role)",
    );
    expect(explainApiError(new ApiException(404, "", {}, {}), configMaps).message).toBe(
      "cannot list configmaps in namespace recs: HTTP 404",
    );
  });

  it("names the chart's view ClusterRole beside Kubernetes' view for Events (the dashboard's timeline)", () => {
    expect(accessDenied({ ...call, kind: "Event" })).toBe(
      "access denied: alice may not list events in namespace recs (ask for a Role that grants it, such as Kubernetes' view role or the chart's jude-operator-view ClusterRole)",
    );
  });

  it("names the server when it cannot be reached", () => {
    expect(explainApiError(new Error("connect ECONNREFUSED"), call).message).toBe(
      "cannot reach the cluster (https://k8s:6443): connect ECONNREFUSED",
    );
  });
});

describe("API errors the plugin explains (credentials, cluster scope, connection causes)", () => {
  it("says the credentials were refused on 401, instead of asking for a Role", () => {
    expect(explainApiError(new ApiException(401, "", {}, {}), call).message).toBe(
      "the cluster (https://k8s:6443) does not accept the credentials of alice (401 Unauthorized): the token or certificate in the kubeconfig is invalid or expired; log in again",
    );
  });

  it("asks for a ClusterRole when a list across all namespaces is denied (a Role cannot grant it)", () => {
    const { namespace: _namespace, ...allNamespaces } = call;
    expect(explainApiError(new ApiException(403, "", {}, {}), allNamespaces).message).toBe(
      "access denied: alice may not list embeddingmodels.jude.dev in all namespaces at once (-A is one cluster-wide request, which a RoleBinding in some namespaces does not grant: bind a ClusterRole such as Kubernetes' view role with the chart's userRoles with a ClusterRoleBinding, or name one namespace with -n)",
    );
  });

  it("says an Events refusal with -A is of the cluster-wide list, not of every namespace (the dashboard's timeline)", () => {
    expect(accessDenied({ verb: "watch", kind: "Event", user: "alice" })).toBe(
      "access denied: alice may not watch events in all namespaces at once (-A is one cluster-wide request, which a RoleBinding in some namespaces does not grant: bind a ClusterRole such as Kubernetes' view role or the chart's jude-operator-view ClusterRole with a ClusterRoleBinding, or name one namespace with -n)",
    );
  });

  it("quotes the API server's message for other HTTP failures", () => {
    const status = { kind: "Status", message: "Too many requests, please try again later." };
    expect(explainApiError(new ApiException(429, "", status, {}), call).message).toBe(
      "cannot list embeddingmodels in namespace recs: HTTP 429 (Too many requests, please try again later.)",
    );
  });

  it("names the cause fetch keeps behind 'fetch failed' (refused, unknown host, untrusted certificate)", () => {
    const wrapped = (cause: Error) =>
      Object.assign(
        new TypeError("Failed to fetch resource metadata for jude.dev/v1alpha1/EmbeddingModel: fetch failed"),
        { cause },
      );
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    expect(explainApiError(wrapped(refused), call).message).toBe(
      "cannot reach the cluster (https://k8s:6443): connect ECONNREFUSED 127.0.0.1:6443",
    );
    const untrusted = Object.assign(
      new Error(
        "unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca",
      ),
      { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
    );
    expect(connectionFailure(wrapped(untrusted))).toBe(
      "the server's TLS certificate is not trusted: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); check the cluster's certificate-authority in the kubeconfig",
    );
  });
});

describe("retries the API server asks for", () => {
  it("waits Retry-After on 429 (and on a 5xx that carries it), and never retries other failures", () => {
    expect(retryDelayMs(new ApiException(429, "", {}, { "retry-after": "2" }))).toBe(2000);
    expect(retryDelayMs(new ApiException(429, "", {}, {}))).toBe(1000);
    expect(retryDelayMs(new ApiException(503, "", {}, { "Retry-After": "1" }))).toBe(1000);
    expect(retryDelayMs(new ApiException(503, "", {}, {}))).toBeUndefined();
    expect(retryDelayMs(new ApiException(403, "", {}, { "retry-after": "1" }))).toBeUndefined();
    expect(retryDelayMs(new Error("fetch failed"))).toBeUndefined();
  });

  it("lists through the 429s an API server answers while a new CRD's watch cache fills", async () => {
    // An HTTP server in the API server's place: discovery, then two 429s with Retry-After, then the list.
    let listCalls = 0;
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/jude.dev/v1alpha1")
          return json(200, {
            kind: "APIResourceList",
            groupVersion: "jude.dev/v1alpha1",
            resources: ["EmbeddingModel", "NearlinePipeline", "BootstrapRun"].map((kind) => ({
              name: `${kind.toLowerCase()}s`,
              kind,
              namespaced: true,
              verbs: ["list"],
            })),
          });
        if (request.url?.startsWith("/apis/jude.dev/v1alpha1/namespaces/recs/")) {
          if (request.url.includes("/embeddingmodels")) listCalls += 1;
          if (request.url.includes("/embeddingmodels") && listCalls <= 2)
            return json(
              429,
              { kind: "Status", code: 429, message: "storage is (re)initializing" },
              { "retry-after": "1" },
            );
          return json(200, {
            kind: "EmbeddingModelList",
            apiVersion: "jude.dev/v1alpha1",
            metadata: {},
            items: [{ metadata: { name: "m" } }],
          });
        }
        json(404, { kind: "Status", code: 404 });
      },
      async (cluster) => {
        const objects = await cluster.readAll("recs");
        expect(objects.models.map((model) => model.metadata.name)).toEqual(["m"]);
        expect(listCalls).toBe(3);
      },
    );
  });
});

describe("names that cannot be an object's or a namespace's", () => {
  /**
   * The client library joins names into the path as given and lower-cases it: `approve .` read the
   * namespace's list as a model and died on it (TypeError), `-n ..` listed every namespace, `-n x/..`
   * was told the CRDs are missing, and `approve MiniLM` would have patched minilm.
   */
  it("are refused before any request, naming the name; a valid one is read", async () => {
    const paths: string[] = [];
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/jude.dev/v1alpha1") return json(200, judeApiResources);
        paths.push(`${request.method} ${request.url}`);
        const name = /\/embeddingmodels\/([^/]+)$/.exec(request.url ?? "")?.[1];
        if (name !== undefined)
          return json(200, { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", metadata: { name } });
        json(200, { kind: "EmbeddingModelList", apiVersion: "jude.dev/v1alpha1", metadata: {}, items: [] });
      },
      async (cluster) => {
        await expect(cluster.readModel("recs", ".")).rejects.toThrow(
          /^invalid EmbeddingModel name "\.": an EmbeddingModel's name is lowercase letters/,
        );
        await expect(cluster.readModel("recs", "..")).rejects.toThrow(/invalid EmbeddingModel name "\.\."/);
        await expect(cluster.patchModelSpec("recs", "MiniLM", {})).rejects.toThrow(
          /invalid EmbeddingModel name "MiniLM"/,
        );
        await expect(cluster.readAll("..")).rejects.toThrow(
          /^invalid namespace "\.\.": a namespace is lowercase/,
        );
        await expect(cluster.readAll("x/../..")).rejects.toThrow(/invalid namespace "x\/\.\.\/\.\."/);
        await expect(cluster.readModel("Recs", "minilm")).rejects.toThrow(/invalid namespace "Recs"/);
        await expect(cluster.readModel("recs", "a".repeat(254))).rejects.toThrow(
          /invalid EmbeddingModel name/,
        );
        // A subdomain, but the CRD refuses dots (the operator derives host names from the name).
        await expect(cluster.readModel("recs", "minilm-v2.prod")).rejects.toThrow(
          /^invalid EmbeddingModel name "minilm-v2\.prod": an EmbeddingModel's name is lowercase letters, digits and '-' \(no dots\)/,
        );
        await expect(cluster.readAll("n".repeat(64))).rejects.toThrow(/invalid namespace "n{64}"/);
        expect(paths).toEqual([]);
        // What the API server and the CRD accept: a namespace of 63 characters, a name of 253.
        const [namespace, name] = ["n".repeat(63), `minilm-${"v".repeat(246)}`];
        expect((await cluster.readModel(namespace, name)).metadata.name).toBe(name);
        expect(paths).toEqual([
          `GET /apis/jude.dev/v1alpha1/namespaces/${namespace}/embeddingmodels/${name}`,
        ]);
      },
    );
  });
});

describe("a model name that names no EmbeddingModel", () => {
  it("names the closest models of the namespace, when one is close", async () => {
    const models = ["minilm", "bge-small"].map((name) => ({
      apiVersion: "jude.dev/v1alpha1",
      kind: "EmbeddingModel",
      metadata: { name, namespace: "recs" },
    }));
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/jude.dev/v1alpha1") return json(200, judeApiResources);
        if (/\/embeddingmodels\/[^/]+$/.test(request.url ?? "")) return json(404, notFoundStatus);
        json(200, {
          kind: "EmbeddingModelList",
          apiVersion: "jude.dev/v1alpha1",
          metadata: {},
          items: models,
        });
      },
      async (cluster) => {
        await expect(cluster.readModel("recs", "minlm")).rejects.toThrow(
          /^EmbeddingModel minlm not found in namespace recs; did you mean minilm\?$/,
        );
        await expect(cluster.readModel("recs", "absent")).rejects.toThrow(
          /^EmbeddingModel absent not found in namespace recs$/,
        );
      },
    );
  });
});

describe("a model name that names no EmbeddingModel, in a namespace of many", () => {
  it("reads the names for its suggestions in bounded pages, not one list of every object", async () => {
    const urls: string[] = [];
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/jude.dev/v1alpha1") return json(200, judeApiResources);
        if (/\/embeddingmodels\/[^/?]+$/.test(request.url ?? "")) return json(404, notFoundStatus);
        urls.push(request.url ?? "");
        json(200, {
          kind: "EmbeddingModelList",
          apiVersion: "jude.dev/v1alpha1",
          metadata: {},
          items: [{ apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", metadata: { name: "minilm" } }],
        });
      },
      async (cluster) => {
        await expect(cluster.readModel("recs", "minlm")).rejects.toThrow(/did you mean minilm\?$/);
      },
    );
    expect(urls).toHaveLength(1);
    expect(new URL(urls[0]!, "http://api").searchParams.get("limit")).toBe("500");
  });
});

describe("whether the user may change a kind (SelfSubjectAccessReview)", () => {
  /** Discovery of authorization.k8s.io/v1: the group serves SelfSubjectAccessReview. */
  const authorizationApiResources = {
    kind: "APIResourceList",
    groupVersion: "authorization.k8s.io/v1",
    resources: [
      {
        name: "selfsubjectaccessreviews",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: ["create"],
      },
    ],
  };

  it("answers the review's yes or no, and 'not known' when the review is refused, fails or could not be evaluated", async () => {
    const asked: unknown[] = [];
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/authorization.k8s.io/v1") return json(200, authorizationApiResources);
        if (
          request.method === "POST" &&
          request.url?.startsWith("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        ) {
          let body = "";
          request.on("data", (chunk: Buffer) => (body += String(chunk)));
          request.on("end", () => {
            const review = JSON.parse(body) as { spec: { resourceAttributes: { namespace: string } } };
            asked.push(review.spec.resourceAttributes);
            const namespace = review.spec.resourceAttributes.namespace;
            if (namespace === "forbidden")
              return json(403, {
                kind: "Status",
                code: 403,
                message: "selfsubjectaccessreviews is forbidden",
              });
            if (namespace === "broken") return json(500, { kind: "Status", code: 500 });
            json(201, {
              ...review,
              status: {
                allowed: namespace === "yes",
                ...(namespace === "unevaluated" && { evaluationError: "webhook authorizer unreachable" }),
              },
            });
          });
          return;
        }
        json(404, { kind: "Status", code: 404 });
      },
      async (cluster) => {
        const answers = [];
        for (const namespace of ["yes", "no", "forbidden", "broken", "unevaluated"])
          answers.push(await cluster.mayI("patch", "EmbeddingModel", namespace));
        expect(answers).toEqual([true, false, undefined, undefined, undefined]);
        expect(asked[0]).toEqual({
          namespace: "yes",
          verb: "patch",
          group: "jude.dev",
          resource: "embeddingmodels",
        });
      },
    );
  });

  it("closes the review's HTTP request when the caller aborts it (an API server that never answers)", async () => {
    // Was: mayI took no signal, so a dashboard that gave up on a hung review left its request open,
    // one more per namespace every round for as long as the API server hung.
    const open = new Set<IncomingMessage>();
    let asked = 0;
    await withFakeApiServer(
      (request, json) => {
        if (request.url === "/apis/authorization.k8s.io/v1") return json(200, authorizationApiResources);
        if (request.method === "POST") {
          // Taken and never answered.
          asked++;
          open.add(request);
          request.socket.once("close", () => open.delete(request));
          request.resume();
          return;
        }
        json(404, { kind: "Status", code: 404 });
      },
      async (cluster) => {
        for (let round = 0; round < 3; round++) {
          const controller = new AbortController();
          const answer = cluster.mayI("patch", "EmbeddingModel", "recs", undefined, controller.signal);
          await waitUntil(() => open.size === 1);
          controller.abort();
          expect(await answer).toBeUndefined();
          await waitUntil(() => open.size === 0);
        }
        expect(asked).toBe(3);
        const aborted = AbortSignal.abort();
        expect(await cluster.mayI("patch", "EmbeddingModel", "recs", undefined, aborted)).toBeUndefined();
        expect(asked).toBe(3);
      },
    );
  });
});

/** Resolves once `done` holds (checked every 10 ms). */
async function waitUntil(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("a kubeconfig token-file", () => {
  it("is read again for every request, as kubectl reads a rotated token", async () => {
    // Was: read once when the kubeconfig was loaded, so a long-running dashboard kept sending a
    // projected service-account token after the kubelet had rotated it (401 once it expired).
    const tokens: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      if (request.url === "/apis/jude.dev/v1alpha1") return response.end(JSON.stringify(judeApiResources));
      tokens.push(request.headers.authorization);
      response.end(JSON.stringify({ apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", metadata: {} }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-token-file-"));
      const kubeconfig = join(folder, "config");
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          clusters: [
            {
              name: "c",
              cluster: {
                server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
                "insecure-skip-tls-verify": true,
              },
            },
          ],
          users: [{ name: "u", user: { "token-file": "token" } }],
          contexts: [{ name: "dev", context: { cluster: "c", user: "u" } }],
          "current-context": "dev",
        }),
      );
      // kubectl trims the file (a trailing newline is not part of the token).
      writeFileSync(join(folder, "token"), "first\n");
      const cluster = new Cluster({ kubeconfig });
      await cluster.readModel("recs", "minilm");
      writeFileSync(join(folder, "token"), "rotated\n");
      await cluster.readModel("recs", "minilm");
      expect(tokens).toEqual(["Bearer first", "Bearer rotated"]);
    } finally {
      server.close();
    }
  });
});

describe("a kubeconfig token-file that cannot be read", () => {
  /** A kubeconfig with users "ok" (a token) and "rotating" (a token-file `token`), current context `current`. */
  function twoUsers(folder: string, current: "uses-ok" | "uses-file"): string {
    const file = join(folder, "config");
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
        users: [
          { name: "ok", user: { token: "t" } },
          { name: "rotating", user: { "token-file": "token" } },
        ],
        contexts: [
          { name: "uses-ok", context: { cluster: "c", user: "ok" } },
          { name: "uses-file", context: { cluster: "c", user: "rotating" } },
        ],
        "current-context": current,
      }),
    );
    return file;
  }

  it("does not fail a context whose user does not use it (kubectl reads only the current user's)", () => {
    // Was: every user's token-file was read at load, so a missing one of another user failed the command.
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-other-token-"));
    const config = loadKubeConfig({ kubeconfig: twoUsers(folder, "uses-ok") });
    expect(config.getCurrentUser()?.name).toBe("ok");
  });

  it("fails a context whose user uses it, naming the user and the file", () => {
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-own-token-"));
    expect(() => loadKubeConfig({ kubeconfig: twoUsers(folder, "uses-file") })).toThrow(
      new RegExp(`token-file ${join(folder, "token")} of user "rotating".*ENOENT`),
    );
    expect(() => loadKubeConfig({ kubeconfig: twoUsers(folder, "uses-ok"), context: "uses-file" })).toThrow(
      /of user "rotating"/,
    );
  });
});

describe("a kubeconfig user that impersonates (as kubectl's --as, --as-group, --as-uid)", () => {
  /** A kubeconfig whose users are `users`, each with a context of its name; the first is current. */
  function withUsers(users: Record<string, Record<string, unknown>>): string {
    const file = join(mkdtempSync(join(tmpdir(), "kubectl-jude-impersonate-")), "config");
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
        users: Object.entries(users).map(([name, user]) => ({ name, user: { token: "t", ...user } })),
        contexts: Object.keys(users).map((name) => ({ name, context: { cluster: "c", user: name } })),
        "current-context": Object.keys(users)[0],
      }),
    );
    return file;
  }

  it("acts as `as` alone, and a refusal names both the kubeconfig's user and that identity", () => {
    const user = loadKubeConfig({ kubeconfig: withUsers({ admin: { as: "jane" } }) }).getCurrentUser();
    expect(user?.impersonateUser).toBe("jane");
    expect(userDescription(user)).toBe("admin (acting as jane)");
    expect(userDescription(loadKubeConfig({ kubeconfig: withUsers({ alice: {} }) }).getCurrentUser())).toBe(
      "alice",
    );
  });

  it("refuses a current user with groups, a uid or extra fields it cannot send; empty ones and other users' are fine", () => {
    const file = withUsers({
      admin: { as: "jane", "as-groups": ["editors"], "as-uid": "42", "as-user-extra": { scopes: ["a"] } },
      // kubectl sends one Impersonate-Extra-<key> header per value: a key without values sends none.
      plain: { as: "jane", "as-groups": [], "as-user-extra": {}, "as-uid": "" },
      unset: { as: "jane", "as-user-extra": { scopes: [] } },
    });
    expect(() => loadKubeConfig({ kubeconfig: file })).toThrow(
      `user "admin" of the kubeconfig ${file} impersonates with as-groups, as-uid, as-user-extra, which kubectl jude cannot send (it sends only \`as\`): use a context whose user has the rights itself`,
    );
    expect(loadKubeConfig({ kubeconfig: file, context: "plain" }).getCurrentUser()?.name).toBe("plain");
    expect(loadKubeConfig({ kubeconfig: file, context: "unset" }).getCurrentUser()?.name).toBe("unset");
  });

  it("refuses them in a KUBECONFIG list too, from the file that defines the user first", () => {
    const first = withUsers({ admin: { as: "jane", "as-groups": ["editors"] } });
    const second = withUsers({ other: {} });
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = `${second}:${first}`;
    try {
      expect(() => loadKubeConfig({ context: "admin" })).toThrow(
        /user "admin" of the kubeconfig .* as-groups/,
      );
      expect(loadKubeConfig({}).getCurrentUser()?.name).toBe("other");
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
    }
  });
});

describe("a kubeconfig token-file on the dashboard's watches", () => {
  /** An API server that records each request's Authorization and ends every watch at once. */
  async function recordingServer() {
    const seen: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(200, { "content-type": "application/json" });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { seen, server, port: (server.address() as AddressInfo).port };
  }

  /** A kubeconfig whose user is `user`, against `port`. */
  function kubeconfigWith(folder: string, port: number, user: Record<string, unknown>): string {
    const file = join(folder, "config");
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [
          { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "u", user }],
        contexts: [{ name: "dev", context: { cluster: "c", user: "u" } }],
        "current-context": "dev",
      }),
    );
    return file;
  }

  const watchOnce = (client: KubeClient) =>
    client.watch(
      "/api/v1/namespaces/recs/configmaps",
      {},
      { onEvent: () => undefined, onConnected: () => undefined },
      new AbortController().signal,
    );

  it("sends the rotated token when a watch reconnects, and the last token read while the file is being replaced", async () => {
    const { seen, server, port } = await recordingServer();
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-watch-token-"));
    writeFileSync(join(folder, "token"), "at-load\n");
    const client = new KubeClient(
      loadKubeConfig({ kubeconfig: kubeconfigWith(folder, port, { "token-file": "token" }) }),
    );
    try {
      writeFileSync(join(folder, "token"), "first\n");
      await watchOnce(client);
      writeFileSync(join(folder, "token"), "rotated\n");
      await watchOnce(client);
      // Replaced as kubelet's atomic writer does not, between a delete and a write: the file is gone.
      rmSync(join(folder, "token"));
      await watchOnce(client);
      writeFileSync(join(folder, "token"), "third\n");
      await watchOnce(client);
      expect(seen).toEqual(["Bearer first", "Bearer rotated", "Bearer rotated", "Bearer third"]);
    } finally {
      await client.close();
      server.close();
    }
  });

  it("never puts the token in an error: a 401, a refused watch, an unreachable server", async () => {
    const secret = "s3cr3t-token-value";
    const server = createServer((request, response) => {
      response.writeHead(401, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ kind: "Status", code: 401, message: "Unauthorized", reason: "Unauthorized" }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-token-leak-"));
    writeFileSync(join(folder, "token"), `${secret}\n`);
    const kubeconfig = kubeconfigWith(folder, port, { "token-file": "token" });
    const client = new KubeClient(loadKubeConfig({ kubeconfig }));
    /** Everything an error says: its message, stack and causes, and its own fields. */
    const everything = (error: unknown): string => {
      const parts: string[] = [];
      for (let at = error, depth = 0; at !== undefined && at !== null && depth < 8; depth += 1) {
        parts.push(String((at as Error).message), String((at as Error).stack), JSON.stringify(at));
        at = (at as { cause?: unknown }).cause;
      }
      return parts.join("\n");
    };
    try {
      const refused = await new Cluster({ kubeconfig })
        .readModel("recs", "minilm")
        .catch((error: unknown) => error);
      expect(everything(refused)).toContain("401");
      expect(everything(refused)).not.toContain(secret);
      const watch = await watchOnce(client).catch((error: unknown) => error);
      expect(everything(watch)).toContain("401");
      expect(everything(watch)).not.toContain(secret);
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    }
    const gone = await new Cluster({ kubeconfig })
      .readModel("recs", "minilm")
      .catch((error: unknown) => error);
    expect(everything(gone)).toContain("ECONNREFUSED");
    expect(everything(gone)).not.toContain(secret);
  });

  it("sends the token-file's token, not the exec plugin's, when a user sets both (kubectl's order)", async () => {
    // client-go runs no exec plugin for a user with a token or token-file (exec.UpdateTransportConfig).
    const { seen, server, port } = await recordingServer();
    const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-exec-token-"));
    writeFileSync(join(folder, "token"), "from-file\n");
    const plugin = join(folder, "credential.sh");
    writeFileSync(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`,
      { mode: 0o755 },
    );
    const client = new KubeClient(
      loadKubeConfig({
        kubeconfig: kubeconfigWith(folder, port, {
          "token-file": "token",
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: plugin,
            interactiveMode: "Never",
          },
        }),
      }),
    );
    try {
      await watchOnce(client);
      expect(seen).toEqual(["Bearer from-file"]);
    } finally {
      await client.close();
      server.close();
    }
  });
});

describe("--request-timeout", () => {
  it("reads kubectl's values: seconds, Go durations, 0 for no limit; nothing else", () => {
    expect(parseRequestTimeout("0")).toBe(0);
    expect(parseRequestTimeout("5")).toBe(5000);
    expect(parseRequestTimeout("500ms")).toBe(500);
    expect(parseRequestTimeout("1m30s")).toBe(90_000);
    expect(parseRequestTimeout("1.5s")).toBe(1500);
    for (const invalid of ["soon", "5x", "-1", "s", "1 s"])
      expect(parseRequestTimeout(invalid)).toBeUndefined();
    expect([1000, 1500, 60_000, 90_000].map(formatDuration)).toEqual(["1s", "1.5s", "1m", "1m30s"]);
  });

  // Each value checked against kubectl 1.33 (`kubectl get ns --request-timeout=VALUE`): clientcmd's
  // ParseTimeout reads a non-negative integer as seconds, else Go's time.ParseDuration.
  it("reads every unit and form of Go's time.ParseDuration, as kubectl does", () => {
    const accepted: [string, number][] = [
      ["1ns", 0.000001],
      ["500us", 0.5],
      ["500\u00b5s", 0.5], // micro sign
      ["500\u03bcs", 0.5], // Greek mu
      ["1.5ms", 1.5],
      ["2s", 2000],
      ["2m", 120_000],
      ["2h", 7_200_000],
      [".5s", 500],
      ["1.s", 1000],
      ["+5s", 5000],
      ["1h2m3.5s", 3_723_500],
      ["3m2h", 7_380_000], // units in any order, summed
      ["1.5h", 5_400_000],
      ["0s", 0],
      ["0.000s", 0],
      // A fraction longer than a nanosecond is cut, not rounded, as Go cuts it.
      ["0.1234567899s", 123.456789],
    ];
    for (const [text, ms] of accepted) expect([text, parseRequestTimeout(text)]).toEqual([text, ms]);
  });

  it("reads a bare integer as seconds, an empty value as no limit, as kubectl does", () => {
    const accepted: [string, number][] = [
      ["", 0], // `--request-timeout=`: kubectl sets no timeout
      ["00", 0],
      ["-0", 0],
      ["+0", 0],
      ["007", 7000],
      ["+5", 5000],
      ["30", 30_000],
    ];
    for (const [text, ms] of accepted) expect([text, parseRequestTimeout(text)]).toEqual([text, ms]);
  });

  it("reads a negative duration as no limit, as kubectl's HTTP client does, but refuses a negative integer", () => {
    for (const text of ["-5s", "-1ns", "-1h2m", "-9223372036854775808ns"])
      expect([text, parseRequestTimeout(text)]).toEqual([text, 0]);
    for (const text of ["-5", "-1", "--5s", "-"])
      expect([text, parseRequestTimeout(text)]).toEqual([text, undefined]);
  });

  it("refuses a duration longer than Go's (about 292 years) instead of wrapping it", () => {
    expect(parseRequestTimeout("2562047h")).toBe(9_223_369_200_000);
    expect(parseRequestTimeout("9223372036854775807ns")).toBeCloseTo(9_223_372_036_854.775, 2);
    expect(parseRequestTimeout("9223372036")).toBe(9_223_372_036_000);
    const tooLong = [
      "2562048h",
      "9223372036854775808ns",
      "2562047h47m16.854775808s",
      "99999999999999999999s",
      "9223372037", // kubectl wraps this many seconds to a negative duration
      "9999999999999999999",
    ];
    for (const text of tooLong) expect([text, parseRequestTimeout(text)]).toEqual([text, undefined]);
  });

  it("refuses what Go's time.ParseDuration refuses", () => {
    const refused = [
      "soon",
      "5x",
      "s",
      "1 s",
      " 5s",
      "5s ",
      "5S",
      "1d",
      ".s",
      "-.s",
      "1.5",
      "1e3s",
      "5s5",
      "+",
      "1h-5m",
      "0x10s",
    ];
    for (const text of refused) expect([text, parseRequestTimeout(text)]).toEqual([text, undefined]);
  });

  it("names the timeout in the unit it was given", () => {
    expect([0.5, 0.000001, 500, 3_723_500, 7_200_000].map(formatDuration)).toEqual([
      "500\u00b5s",
      "1ns",
      "500ms",
      "1h2m3.5s",
      "2h",
    ]);
  });

  it("keeps a timeout longer than a Node timer can wait (24.8 days), instead of aborting after 1 ms", async () => {
    // Node fires a timer given more than 2^31-1 ms after 1 ms: `--request-timeout 720h` failed every call.
    const server = createServer((request, response) => {
      // Answered after a 1 ms timer would have fired.
      setTimeout(() => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify(emptyClusterAnswer(request.url)));
      }, 20);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-api-"));
      const kubeconfig = kubeconfigFor(folder, "config", (server.address() as AddressInfo).port);
      const cluster = new Cluster({ kubeconfig, requestTimeoutMs: parseRequestTimeout("720h")! });
      expect(await cluster.readAll("recs")).toEqual({ models: [], pipelines: [], bootstrapRuns: [] });
    } finally {
      server.close();
    }
  });

  it("suggests --request-timeout when the HTTP client's own 5-minute wait for an answer ran out", () => {
    const headersTimeout = Object.assign(new Error("Headers Timeout Error"), {
      code: "UND_ERR_HEADERS_TIMEOUT",
    });
    expect(explainApiError(new TypeError("fetch failed", { cause: headersTimeout }), call).message).toBe(
      "cannot reach the cluster (https://k8s:6443): the API server accepted the connection but sent no answer (UND_ERR_HEADERS_TIMEOUT); pass --request-timeout 30s to give up sooner",
    );
  });

  it("says the server did not answer in time, wherever the client library wrapped the abort", () => {
    const wrapped = new TypeError("fetch failed", { cause: new RequestTimeout(30_000) });
    expect(explainApiError(wrapped, call).message).toBe(
      "the cluster (https://k8s:6443) did not answer within 30s (--request-timeout); check that the API server is up and reachable",
    );
  });
});
