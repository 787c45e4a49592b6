import { describe, expect, it } from "vitest";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { readContainerLog } from "../../../testbed/local-nodes/cli-commands.ts";
import { apply, eventually, judeImage, onLocalNode, withLocalNodes, type Pod } from "./helpers.ts";

const namespace = `local-volumes-${process.pid}`;
const pod = (name: string): Promise<Pod> => kubectlJson<Pod>(["get", "pod", name, "-n", namespace]);
const log = (name: string): string =>
  readContainerLog({ pod: name, namespace, container: "main", previous: false });

describe("local pod volumes and limits", () => {
  withLocalNodes(namespace);

  it("mounts ConfigMap items, Secret modes and a memory emptyDir, and updates the ConfigMap files in place", async () => {
    await apply(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace },
        data: { level: "one", ignored: "x" },
      },
      { apiVersion: "v1", kind: "Secret", metadata: { name: "key", namespace }, stringData: { key: "k" } },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "reader", namespace },
        spec: {
          ...onLocalNode(),
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "main",
              image: judeImage,
              command: [
                "sh",
                "-c",
                'stat -L -c "secret %a" /secret/key; ls /settings; df -T /scratch | tail -1 | tr -s " " | cut -d" " -f2 | sed "s/^/scratch /"; while true; do echo "level $(cat /settings/conf/level)"; sleep 1; done',
              ],
              volumeMounts: [
                { name: "settings", mountPath: "/settings" },
                { name: "key", mountPath: "/secret" },
                { name: "scratch", mountPath: "/scratch" },
              ],
            },
          ],
          volumes: [
            {
              name: "settings",
              configMap: { name: "settings", items: [{ key: "level", path: "conf/level" }] },
            },
            { name: "key", secret: { secretName: "key", defaultMode: 0o440 } },
            { name: "scratch", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
          ],
        },
      },
    );
    await eventually(
      "the first level line",
      async () => (await pod("reader")).status.phase === "Running" && log("reader").includes("level one"),
    );
    expect(log("reader")).toContain("secret 440\n");
    expect(log("reader")).toContain("conf\n");
    expect(log("reader")).not.toContain("ignored");
    expect(log("reader")).toContain("scratch tmpfs\n");
    await kubectl([
      "patch",
      "configmap",
      "settings",
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ data: { level: "two" } }),
    ]);
    await eventually("the updated level in the running process", async () =>
      log("reader").includes("level two"),
    );
  });

  it("starts no container, init or not, while a volume's source is missing, as a kubelet does, and starts them once it exists", async () => {
    const container = (name: string, command: string) => ({
      name,
      image: judeImage,
      command: ["sh", "-c", command],
      volumeMounts: [{ name: "late", mountPath: "/late" }],
    });
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "waits-for-volume", namespace },
      spec: {
        ...onLocalNode(),
        terminationGracePeriodSeconds: 1,
        initContainers: [{ ...container("init", "true"), volumeMounts: [] }],
        containers: [container("main", "cat /late/value; sleep 600")],
        volumes: [{ name: "late", configMap: { name: "late" } }],
      },
    });
    const states = async () => {
      const { status } = await pod("waits-for-volume");
      return [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])].map(
        (entry) => entry.state,
      );
    };
    await eventually("the pod to report container states", async () => (await states()).length === 2);
    // Past the agent's volume resync (2 s): the pod must still wait, every container ContainerCreating.
    for (let check = 0; check < 4; check += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      for (const state of await states())
        expect(state).toEqual({
          waiting: { reason: "ContainerCreating", message: 'configmap "late" not found' },
        });
    }
    await apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "late", namespace },
      data: { value: "here" },
    });
    await eventually(
      "the main container to read the volume",
      async () =>
        (await pod("waits-for-volume")).status.phase === "Running" &&
        log("waits-for-volume").includes("here"),
    );
  });

  it("kills a container over its memory limit with reason OOMKilled", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "hungry", namespace },
      spec: {
        ...onLocalNode(),
        restartPolicy: "Never",
        containers: [
          {
            name: "main",
            image: judeImage,
            command: [
              "node",
              "-e",
              "const keep = []; setInterval(() => keep.push(Buffer.alloc(16 * 2 ** 20, 1)), 50);",
            ],
            resources: { limits: { memory: "128Mi" } },
          },
        ],
      },
    });
    await eventually("the pod to fail", async () => (await pod("hungry")).status.phase === "Failed");
    expect((await pod("hungry")).status.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 137,
      reason: "OOMKilled",
    });
  });
});
