import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  ContainerConfigError,
  containerProcess,
  expand,
  imagePath,
  isRunnableImage,
  type EnvSources,
} from "./container-process.ts";

const sources: EnvSources = {
  configMap: (namespace, name) =>
    namespace === "ns" && name === "cfg" ? { LEVEL: "debug", "config.yaml": "a: 1" } : undefined,
  secret: (namespace, name) => (namespace === "ns" && name === "auth" ? { token: "s3cret" } : undefined),
  serviceEnv: { KUBERNETES_SERVICE_HOST: "10.96.3.1", KUBERNETES_SERVICE_PORT: "443" },
};

function pod(container: object, extra: object = {}): V1Pod {
  return {
    metadata: {
      name: "shard-1",
      namespace: "ns",
      uid: "u-1",
      labels: { app: "jude" },
      annotations: { "batch.kubernetes.io/job-completion-index": "1" },
    },
    spec: {
      nodeName: "local-cpu-0",
      serviceAccountName: "worker",
      containers: [{ name: "main", ...container }],
      ...extra,
    },
    status: { podIP: "10.97.3.9", hostIP: "10.97.3.1" },
  } as V1Pod;
}

describe("pod-to-process translation", () => {
  it("runs the image's jude entrypoint with the container's args when command is absent", () => {
    const spec = containerProcess(
      pod({ args: ["serve", "--config", "/etc/jude/config.yaml"] }),
      { name: "main", args: ["serve", "--config", "/etc/jude/config.yaml"] },
      sources,
    );
    expect(spec.argv).toEqual(["jude", "serve", "--config", "/etc/jude/config.yaml"]);
    expect(spec.workingDir).toBe("/");
    expect(spec.user).toBeUndefined();
    expect(spec.env.PATH).toBe(imagePath);
    expect(spec.env.HOSTNAME).toBe("shard-1");
  });

  it("resolves value, secretKeyRef, configMapKeyRef, fieldRef, envFrom and Service variables in kubelet order", () => {
    const container = {
      name: "main",
      command: ["jude", "bootstrap"],
      args: ["--shard", "$(JOB_COMPLETION_INDEX)", "--literal", "$$(HOME)"],
      envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CFG_" }],
      env: [
        {
          name: "JOB_COMPLETION_INDEX",
          valueFrom: {
            fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
          },
        },
        { name: "TOKEN", valueFrom: { secretKeyRef: { name: "auth", key: "token" } } },
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "cfg", key: "LEVEL" } } },
        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "GREETING", value: "level=$(LEVEL) on $(NODE), $(UNDEFINED)" },
        { name: "KUBERNETES_SERVICE_PORT", value: "6443" },
      ],
    };
    const spec = containerProcess(pod(container), container, sources);
    expect(spec.argv).toEqual(["jude", "bootstrap", "--shard", "1", "--literal", "$(HOME)"]);
    expect(spec.env).toMatchObject({
      CFG_LEVEL: "debug",
      "CFG_config.yaml": "a: 1",
      JOB_COMPLETION_INDEX: "1",
      TOKEN: "s3cret",
      LEVEL: "debug",
      POD_IP: "10.97.3.9",
      NODE: "local-cpu-0",
      GREETING: "level=debug on local-cpu-0, $(UNDEFINED)",
      KUBERNETES_SERVICE_HOST: "10.96.3.1",
      KUBERNETES_SERVICE_PORT: "6443",
    });
  });

  it("resolves resourceFieldRef from the container itself, in the kubelet's units and divisors", () => {
    // containerName is optional for env (the API server leaves it empty): the variable's own container.
    const container = {
      name: "main",
      resources: { limits: { memory: "300Mi", cpu: "1500m" }, requests: { cpu: "250m", memory: "1Gi" } },
      env: [
        { name: "MEM", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "0" } } },
        { name: "MEM_MI", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
        { name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
        { name: "CPU_M", valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1m" } } },
        { name: "REQ_CPU", valueFrom: { resourceFieldRef: { resource: "requests.cpu" } } },
        {
          name: "OTHER",
          valueFrom: {
            resourceFieldRef: { containerName: "main", resource: "requests.memory", divisor: "1Gi" },
          },
        },
      ],
    };
    const spec = containerProcess(pod(container), container, sources);
    expect(spec.env).toMatchObject({
      MEM: "314572800",
      MEM_MI: "300",
      CPU: "2",
      CPU_M: "250",
      REQ_CPU: "1",
      OTHER: "1",
    });
  });

  it("reads an unset limit as the node's allocatable, as the kubelet's downward API does", () => {
    const container = {
      name: "main",
      env: [
        { name: "MEM", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Gi" } } },
        { name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
        { name: "REQ", valueFrom: { resourceFieldRef: { resource: "requests.cpu" } } },
      ],
    };
    const spec = containerProcess(pod(container), container, {
      ...sources,
      nodeAllocatable: { cpu: "32", memory: "128Gi" },
    });
    expect(spec.env).toMatchObject({ MEM: "128", CPU: "32", REQ: "0" });
  });

  it("takes runAsUser from the container over the pod, and the working directory", () => {
    const container = { name: "main", workingDir: "/work", securityContext: { runAsUser: 1000 } };
    const spec = containerProcess(
      pod(container, { securityContext: { runAsUser: 65532, runAsGroup: 65532 } }),
      container,
      sources,
    );
    expect(spec.user).toEqual({ uid: 1000, gid: 65532 });
    expect(spec.workingDir).toBe("/work");
    expect(spec.env.HOME).toBe("/");
  });

  it("refuses missing references the way the kubelet does, unless optional", () => {
    const missingKey = {
      name: "main",
      env: [{ name: "X", valueFrom: { secretKeyRef: { name: "auth", key: "nope" } } }],
    };
    expect(() => containerProcess(pod(missingKey), missingKey, sources)).toThrow(
      new ContainerConfigError("couldn't find key nope in secret ns/auth"),
    );
    const missingMap = { name: "main", envFrom: [{ configMapRef: { name: "absent" } }] };
    expect(() => containerProcess(pod(missingMap), missingMap, sources)).toThrow(
      'configmap "absent" not found',
    );
    const optional = {
      name: "main",
      env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "absent", key: "k", optional: true } } }],
    };
    expect(containerProcess(pod(optional), optional, sources).env.X).toBe("");
  });

  it("accepts only the project's image, with any tag or digest", () => {
    expect(isRunnableImage("ghcr.io/jude-dev/jude:0.1.0")).toBe(true);
    expect(isRunnableImage("ghcr.io/jude-dev/jude:0.1.0-cuda")).toBe(true);
    expect(isRunnableImage("ghcr.io/jude-dev/jude@sha256:abc")).toBe(true);
    expect(isRunnableImage("ghcr.io/jude-dev/jude")).toBe(true);
    expect(isRunnableImage("ghcr.io/jude-dev/jude-other:1")).toBe(false);
    expect(isRunnableImage("busybox:1.36")).toBe(false);
    expect(isRunnableImage(undefined)).toBe(false);
  });

  it("expands $(VAR) and keeps $$ as a literal dollar", () => {
    expect(expand("a $(A) $$ $(B)", { A: "1" })).toBe("a 1 $ $(B)");
  });
});
