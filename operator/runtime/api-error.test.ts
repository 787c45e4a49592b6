import { describe, expect, it } from "vitest";
import { apiErrorFrom, isNamespaceTerminating, KubeApiError } from "./api-error.ts";

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
});
