import { existsSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { kubectlJson } from "../../../support/kubectl.ts";
import { readContainerLog } from "../../../testbed/local-nodes/cli-commands.ts";
import { apply, eventually, judeImage, onLocalNode, withLocalNodes, type Pod } from "./helpers.ts";

const namespace = `local-ro-root-${process.pid}`;
const log = (container: string): string =>
  readContainerLog({ pod: "writer", namespace, container, previous: false });

/** Tries writes to `paths` as root (so only a read-only mount can refuse them), reporting each outcome. */
const tryWrites = (...paths: string[]) => [
  "sh",
  "-c",
  `for p in ${paths.join(" ")}; do if err=$(touch "$p" 2>&1); then echo "$p written"; else echo "$p $err"; fi; done; echo done; sleep 3600`,
];
// In a folder of the base tree: the host's own /var/tmp when the pod runs from the checkout.
const hostProbe = `/var/tmp/jude-ro-root-${process.pid}`;
const probes = ["/probe", "/tmp/probe", "/etc/probe", "/scratch/probe", "/scratch-ro/probe"];
const scratchMounts = [
  { name: "scratch", mountPath: "/scratch" },
  { name: "scratch", mountPath: "/scratch-ro", readOnly: true },
];

describe("local pod read-only root filesystem", () => {
  withLocalNodes(namespace);
  afterAll(() => rmSync(hostProbe, { force: true }));

  it("makes the root read-only under readOnlyRootFilesystem, volumes keeping their own flags", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "writer", namespace },
      spec: {
        ...onLocalNode(),
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: "strict",
            image: judeImage,
            command: tryWrites(...probes, hostProbe),
            securityContext: { runAsUser: 0, readOnlyRootFilesystem: true },
            volumeMounts: scratchMounts,
          },
          {
            name: "loose",
            image: judeImage,
            command: tryWrites(...probes, hostProbe),
            securityContext: { runAsUser: 0 },
            volumeMounts: scratchMounts,
          },
        ],
        volumes: [{ name: "scratch", emptyDir: {} }],
      },
    });
    await eventually("both containers tried their writes", async () => {
      const pod = await kubectlJson<Pod>(["get", "pod", "writer", "-n", namespace]);
      return (
        pod.status.phase === "Running" && log("strict").includes("done") && log("loose").includes("done")
      );
    });
    const readOnly = (path: string) => new RegExp(`^${path} .*Read-only file system$`, "m");
    expect(log("strict")).toMatch(readOnly("/probe"));
    expect(log("strict")).toMatch(readOnly("/tmp/probe"));
    expect(log("strict")).toMatch(readOnly("/etc/probe"));
    expect(log("strict")).toContain("/scratch/probe written\n");
    expect(log("strict")).toMatch(readOnly("/scratch-ro/probe"));
    // The base tree's folders are read-only either way: no write lands on the host (or a shared image).
    expect(log("strict")).toMatch(readOnly(hostProbe));
    expect(log("loose")).toMatch(readOnly(hostProbe));
    expect(existsSync(hostProbe)).toBe(false);
    expect(log("loose")).toContain("/probe written\n");
    expect(log("loose")).toContain("/tmp/probe written\n");
    expect(log("loose")).toContain("/scratch/probe written\n");
    expect(log("loose")).toMatch(readOnly("/scratch-ro/probe"));
  });
});
