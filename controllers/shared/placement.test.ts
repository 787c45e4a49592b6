import type { V1PodSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { noPlacement, placePod, type WorkloadPlacement } from "./placement.ts";
import { testPlacement } from "./test-placement.ts";

const localNodes: WorkloadPlacement = {
  ...testPlacement,
  nodeSelector: { ...testPlacement.nodeSelector, pool: "jude" },
};
const gpu = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
const bare: V1PodSpec = { containers: [{ name: "worker" }] };

describe("placePod", () => {
  it("leaves a pod unchanged without defaults", () => {
    expect(placePod(bare, noPlacement)).toEqual(bare);
    const scheduled = { ...bare, nodeSelector: { a: "b" }, tolerations: [] };
    expect(placePod(scheduled, noPlacement)).toEqual(scheduled);
  });

  it("adds the defaults to a pod with no scheduling of its own", () => {
    expect(placePod(bare, localNodes)).toEqual({ ...bare, ...localNodes });
  });

  it("lets the pod's own selector win per key and keeps its other keys", () => {
    const placed = placePod({ ...bare, nodeSelector: { pool: "gpu", zone: "a" } }, localNodes);
    expect(placed.nodeSelector).toEqual({ "testbed.jude.dev/node": "local", pool: "gpu", zone: "a" });
  });

  it("appends default tolerations after the pod's own, without duplicates", () => {
    const placed = placePod({ ...bare, tolerations: [gpu, localNodes.tolerations[0]!] }, localNodes);
    expect(placed.tolerations).toEqual([gpu, localNodes.tolerations[0]]);
    expect(placePod({ ...bare, tolerations: [gpu] }, localNodes).tolerations).toEqual([
      gpu,
      localNodes.tolerations[0],
    ]);
  });

  it("does not modify its input", () => {
    const spec: V1PodSpec = { ...bare, nodeSelector: { zone: "a" }, tolerations: [gpu] };
    placePod(spec, localNodes);
    expect(spec).toEqual({ ...bare, nodeSelector: { zone: "a" }, tolerations: [gpu] });
  });

  it("runs the pod as the operator's workload ServiceAccount, token still unmounted", () => {
    const hardened = { ...bare, automountServiceAccountToken: false };
    expect(placePod(hardened, { ...noPlacement, serviceAccountName: "jude-workloads" })).toEqual({
      ...hardened,
      serviceAccountName: "jude-workloads",
    });
    // Without one, the namespace's default ServiceAccount (the field stays absent).
    expect(placePod(hardened, noPlacement)).not.toHaveProperty("serviceAccountName");
  });
});
