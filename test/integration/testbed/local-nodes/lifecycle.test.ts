import { describe, expect, it } from "vitest";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { apply, eventually, judeImage, onLocalNode, pidOf, withLocalNodes, type Pod } from "./helpers.ts";

const namespace = `local-lifecycle-${process.pid}`;
const pod = (name: string): Promise<Pod> => kubectlJson<Pod>(["get", "pod", name, "-n", namespace]);

function barePod(
  name: string,
  container: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: {
      ...onLocalNode(),
      terminationGracePeriodSeconds: 2,
      ...extra,
      containers: [{ name: "main", image: judeImage, ...container }],
    },
  };
}

describe("local pod lifecycle", () => {
  withLocalNodes(namespace);

  it("restarts a container whose liveness probe fails and counts the restart", async () => {
    await apply(
      barePod("unhealthy", {
        command: ["sh", "-c", "exec sleep 3600"],
        livenessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1, failureThreshold: 2 },
      }),
    );
    await eventually(
      "a restart",
      async () => ((await pod("unhealthy")).status.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
    );
    const status = (await pod("unhealthy")).status.containerStatuses![0]!;
    // SIGTERM ended the previous run (128 + 15), the kubelet's liveness kill.
    expect(status.lastState.terminated).toMatchObject({ exitCode: 143, reason: "Error" });
  });

  it("keeps a pod whose readiness probe fails Running but not Ready", async () => {
    await apply(
      barePod("unready", {
        command: ["sh", "-c", "exec sleep 3600"],
        readinessProbe: { exec: { command: ["test", "-e", "/tmp/ready"] }, periodSeconds: 1 },
      }),
    );
    await eventually(
      "the container running",
      async () => (await pod("unready")).status.containerStatuses?.[0]?.state.running !== undefined,
    );
    const current = await pod("unready");
    expect(current.status.phase).toBe("Running");
    expect(current.status.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    expect(pidOf(current.status.containerStatuses?.[0])).toBeGreaterThan(0);
  });

  it("reports a ready pod Ready again after the node lifecycle controller marked it not ready", async () => {
    // What the controller does to every pod of a node that stopped heartbeating (MarkPodsNotReady);
    // once the node is back, the kubelet's status manager writes its own view again.
    await apply(barePod("marked", { command: ["sh", "-c", "exec sleep 3600"] }));
    const readyNow = async () =>
      (await pod("marked")).status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    await eventually("the pod Ready", readyNow);
    await kubectl([
      "patch",
      "pod",
      "marked",
      "-n",
      namespace,
      "--subresource=status",
      "--type=strategic",
      "-p",
      JSON.stringify({
        status: { conditions: [{ type: "Ready", status: "False", reason: "NodeNotReady" }] },
      }),
    ]);
    await eventually("the pod Ready again", readyNow, 30_000);
  });

  it("gives an image it cannot run a clear waiting reason and keeps serving other pods", async () => {
    await apply(
      barePod("foreign", { image: "docker.io/library/busybox:1.36", command: ["sleep", "3600"] }),
      barePod("neighbour", { command: ["sh", "-c", "exec sleep 3600"] }),
    );
    await eventually(
      "the waiting reason",
      async () =>
        (await pod("foreign")).status.containerStatuses?.[0]?.state.waiting?.reason ===
        "ErrImageNotRunnableLocally",
    );
    expect((await pod("foreign")).status.containerStatuses?.[0]?.state.waiting?.message).toContain(
      'image "docker.io/library/busybox:1.36"',
    );
    await eventually(
      "the neighbour running",
      async () => (await pod("neighbour")).status.phase === "Running",
    );
  });

  it("gives an in-cluster client its ServiceAccount token and the kubernetes Service", async () => {
    await apply(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "read-pods", namespace },
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "read-pods", namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-pods" },
        subjects: [{ kind: "ServiceAccount", name: "default", namespace }],
      },
      barePod(
        "in-cluster",
        {
          command: [
            "node",
            "/.jude-testbed/app/test/integration/testbed/local-nodes/fixtures/in-cluster-client.ts",
          ],
        },
        { restartPolicy: "Never" },
      ),
    );
    await eventually("the in-cluster client to finish", async () =>
      ["Succeeded", "Failed"].includes((await pod("in-cluster")).status.phase ?? ""),
    );
    expect((await pod("in-cluster")).status.phase).toBe("Succeeded");
  });
});
