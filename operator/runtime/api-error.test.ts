import { describe, expect, it } from "vitest";
import { apiErrorFrom, isNamespaceTerminating, KubeApiError, serverRetryDelayMs } from "./api-error.ts";

// The Status body kube-apiserver 1.34 answers a create in a namespace being deleted (captured).
const terminating = JSON.stringify({
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  message:
    'configmaps "new1" is forbidden: unable to create new content in namespace scale-term because it is being terminated',
  reason: "Forbidden",
  details: {
    name: "new1",
    kind: "configmaps",
    causes: [
      {
        reason: "NamespaceTerminating",
        message: "namespace scale-term is being terminated",
        field: "metadata.namespace",
      },
    ],
  },
  code: 403,
});

describe("API errors", () => {
  it("say what to do when an apply names a field the CRD on the server does not declare", () => {
    // What kube-apiserver 1.34 answered a status apply under an older EmbeddingModel CRD (captured).
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message:
        'failed to create typed patch object (ns/third; jude.dev/v1alpha1, Kind=EmbeddingModel): .status.versions[version="v1"].endpoint: field not declared in schema',
      code: 500,
    });
    const error = apiErrorFrom(
      500,
      "PATCH /apis/jude.dev/v1alpha1/namespaces/ns/embeddingmodels/third/status",
      body,
    );
    expect(error.message).toMatch(
      /an older CRD: apply the CRDs of the operator's release.*endpoint: field not declared/,
    );
    expect(apiErrorFrom(500, "GET x", "etcdserver: request timed out").message).not.toMatch(/older CRD/);
  });

  it("keep the Status's causes and tell a terminating namespace apart", () => {
    const error = apiErrorFrom(403, "PATCH /api/v1/namespaces/scale-term/configmaps/new1", terminating);
    expect(error.causes).toEqual(["NamespaceTerminating"]);
    expect(isNamespaceTerminating(error)).toBe(true);
  });

  it("do not take another refusal for a terminating namespace", () => {
    const rbac = JSON.stringify({ kind: "Status", reason: "Forbidden", message: "no RBAC", code: 403 });
    expect(isNamespaceTerminating(apiErrorFrom(403, "PATCH x", rbac))).toBe(false);
    expect(isNamespaceTerminating(apiErrorFrom(403, "PATCH x", "<html>proxy</html>"))).toBe(false);
    expect(
      isNamespaceTerminating(
        new KubeApiError(409, "conflict", "Conflict", { causes: ["NamespaceTerminating"] }),
      ),
    ).toBe(false);
    expect(isNamespaceTerminating(new Error("NamespaceTerminating"))).toBe(false);
  });

  it("say when the server asked for a retry: 429 (1 s without Retry-After), a 5xx only with Retry-After", () => {
    const delay = (status: number, retryAfter?: string) =>
      serverRetryDelayMs(apiErrorFrom(status, "GET x", "Too many requests", retryAfter));
    expect(delay(429, "3")).toBe(3000);
    expect(delay(429)).toBe(1000);
    expect(delay(429, "Wed, 21 Oct 2015 07:28:00 GMT")).toBe(1000);
    expect(delay(503, "2")).toBe(2000);
    expect(delay(504, "0")).toBe(0);
    expect(delay(503)).toBeUndefined();
    expect(delay(500)).toBeUndefined();
    expect(delay(409, "1")).toBeUndefined();
    expect(serverRetryDelayMs(new Error("429"))).toBeUndefined();
  });
});
