import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { explainApiError } from "./cluster.ts";

const call = {
  verb: "list",
  kind: "EmbeddingModel",
  namespace: "recs",
  user: "alice",
  server: "https://k8s:6443",
};

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
      "access denied: alice may not patch embeddingmodels.jude.dev in namespace recs (ask for a Role that grants it)",
    );
  });

  it("names a core resource without the JUDE group (rollback reads the version record ConfigMaps)", () => {
    const configMaps = { ...call, kind: "ConfigMap" };
    expect(explainApiError(new ApiException(403, "", {}, {}), configMaps).message).toBe(
      "access denied: alice may not list configmaps in namespace recs (ask for a Role that grants it)",
    );
    expect(explainApiError(new ApiException(404, "", {}, {}), configMaps).message).toBe(
      "cannot list configmaps in namespace recs: HTTP 404",
    );
  });

  it("names the server when it cannot be reached", () => {
    expect(explainApiError(new Error("connect ECONNREFUSED"), call).message).toBe(
      "cannot reach the cluster (https://k8s:6443): connect ECONNREFUSED",
    );
  });
});
