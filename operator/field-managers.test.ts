// The field manager names of the controllers' server-side applies are pinned. A child's field is
// removed by an apply only when no manager holds it any more: if a release renamed a controller's
// manager, every field the earlier name applied (an env var, a volume, an annotation) would stay on
// every Deployment, Service and ConfigMap under that name for good, even after a later release stops
// rendering it, and `kubectl get --show-managed-fields` would show two owners. A rename needs a
// migration of the objects' managedFields to the new name (as client-go's csaupgrade does for
// client-side apply), not just a new string.
import { describe, expect, it } from "vitest";
import { replicasHandoverManager } from "../controllers/embedding-model/replicas-ownership.ts";
import { controllerFactories } from "./controllers.ts";
import { fieldManagerOf } from "./runtime/controller-client.ts";

describe("field managers (kept across releases)", () => {
  it("names each controller's applies as every earlier release did", () => {
    expect(Object.keys(controllerFactories).map(fieldManagerOf)).toEqual([
      "jude-embedding-model",
      "jude-nearline-pipeline",
      "jude-bootstrap-run",
    ]);
    expect(replicasHandoverManager(fieldManagerOf("embedding-model"))).toBe(
      "jude-embedding-model-replicas-handover",
    );
  });
});
