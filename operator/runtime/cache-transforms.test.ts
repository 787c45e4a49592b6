import { describe, expect, it } from "vitest";
import { cacheTransforms } from "./cache-transforms.ts";
import type { KubeObject } from "./types.ts";

const metadata = { name: "w", namespace: "ns", resourceVersion: "7", labels: { a: "b" } };

describe("cache transforms", () => {
  it("keep a pod's metadata, node, status and the ConfigMaps it mounts, not the rest of its spec", () => {
    const pod = {
      metadata,
      spec: {
        nodeName: "n1",
        containers: [{ name: "c", image: "i" }],
        volumes: [
          { name: "config", configMap: { name: "w-0123456789", defaultMode: 420 } },
          { name: "tmp", emptyDir: {} },
        ],
      },
      status: { phase: "Pending" },
    } as KubeObject;
    expect(cacheTransforms.pods!(pod)).toEqual({
      metadata,
      spec: { nodeName: "n1", volumes: [{ name: "config", configMap: { name: "w-0123456789" } }] },
      status: { phase: "Pending" },
    });
  });

  it("keep a pod's metadata, node and status, not its spec", () => {
    const pod = {
      metadata,
      spec: { nodeName: "n1", containers: [{ name: "c", image: "i" }], volumes: [] },
      status: { phase: "Running", podIP: "10.0.0.2" },
    } as KubeObject;
    expect(cacheTransforms.pods!(pod)).toEqual({
      metadata,
      spec: { nodeName: "n1" },
      status: { phase: "Running", podIP: "10.0.0.2" },
    });
    expect(cacheTransforms.pods!({ metadata } as KubeObject)).toEqual({ metadata });
  });

  it("drop a ConfigMap's data", () => {
    const configMap = { metadata, data: { "a.yaml": "x" }, binaryData: { b: "eA==" } } as KubeObject;
    expect(cacheTransforms.configmaps!(configMap)).toEqual({ metadata });
  });

  it("keep a Deployment's template metadata, replicas and status, not the pod spec", () => {
    const deployment = {
      metadata,
      spec: {
        replicas: 2,
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { annotations: { h: "1" } }, spec: { containers: [{ name: "c" }] } },
      },
      status: { readyReplicas: 2 },
    } as KubeObject;
    expect(cacheTransforms["deployments.apps"]!(deployment)).toEqual({
      metadata,
      spec: {
        replicas: 2,
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { annotations: { h: "1" } } },
      },
      status: { readyReplicas: 2 },
    });
    expect((deployment as { spec: { template: { spec?: unknown } } }).spec.template.spec).toBeDefined();
  });

  it("keep Jobs whole (a run re-applies the spec the server holds, and reads its store's annotations)", () => {
    expect(cacheTransforms["jobs.batch"]).toBeUndefined();
  });
});
