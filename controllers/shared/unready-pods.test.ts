import type { V1ContainerStatus } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  describeUnready,
  probeFailure,
  unreadyPods,
  withProbeFailure,
  type UnreadyPodView,
} from "./unready-pods.ts";

const container = (name: string, fields: Partial<V1ContainerStatus>): V1ContainerStatus => ({
  name,
  image: "ghcr.io/jude-dev/jude:0.1.0",
  imageID: "",
  ready: false,
  restartCount: 0,
  ...fields,
});
const pod = (name: string, status: UnreadyPodView["status"]): UnreadyPodView => ({
  metadata: { name },
  status,
});
const running = (startedAt: string, fields: Partial<V1ContainerStatus> = {}) =>
  container("serve", { state: { running: { startedAt: new Date(startedAt) } }, ...fields });
const evictionMessage =
  "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container serve was using 2Gi, request is 1Gi, has larger consumption of memory.";

describe("why serving pods that do not fail are not ready", () => {
  it("is undefined when every pod is ready or only starting", () => {
    expect(
      unreadyPods([
        pod("a", { phase: "Running", containerStatuses: [running("2026-12-01T10:00:00Z", { ready: true })] }),
        pod("b", {
          phase: "Pending",
          containerStatuses: [container("serve", { state: { waiting: { reason: "ContainerCreating" } } })],
        }),
      ]),
    ).toBeUndefined();
  });

  it("names a container whose readiness probe has not passed, and since when it runs", () => {
    const unready = unreadyPods([
      pod("m-v2-a", {
        phase: "Running",
        containerStatuses: [running("2026-12-01T10:00:00Z", { ready: true })],
      }),
      pod("m-v2-b", {
        phase: "Running",
        containerStatuses: [running("2026-12-01T10:01:02Z", { started: true })],
      }),
    ]);
    expect(describeUnready(unready!)).toBe(
      "pod m-v2-b, container serve: running since 2026-12-01T10:01:02Z, not ready: its readiness probe has not passed (kubectl describe pod m-v2-b shows the probe's failures)",
    );
  });

  it("says the startup probe for a container not started yet", () => {
    const unready = unreadyPods([
      pod("m-v2-b", {
        phase: "Running",
        containerStatuses: [running("2026-12-01T10:01:02Z", { started: false })],
      }),
    ]);
    expect(describeUnready(unready!)).toMatch(
      /: running since .*, not started: its startup probe has not passed /,
    );
  });

  it("names a single crash the pod was restarted after, with its exit, before a pod merely not ready", () => {
    const unready = unreadyPods([
      pod("m-v2-a", { phase: "Running", containerStatuses: [running("2026-12-01T10:00:00Z")] }),
      pod("m-v2-b", {
        phase: "Running",
        containerStatuses: [
          running("2026-12-01T10:01:02Z", {
            restartCount: 1,
            lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
          }),
        ],
      }),
    ]);
    expect(describeUnready(unready!)).toBe(
      "pod m-v2-b, container serve: running since 2026-12-01T10:01:02Z, restarted after a failed exit (last exit: OOMKilled, exit code 137, 1 restart), not ready: its readiness probe has not passed (kubectl describe pod m-v2-b shows the probe's failures)",
    );
  });

  it("names the latest pod its node stopped (evicted), with the kubelet's reason and message", () => {
    const unready = unreadyPods([
      pod("m-v2-old", {
        phase: "Failed",
        reason: "Evicted",
        message: "an older eviction",
        startTime: new Date("2026-12-01T09:00:00Z"),
      }),
      pod("m-v2-a", {
        phase: "Failed",
        reason: "Evicted",
        message: evictionMessage,
        startTime: new Date("2026-12-01T10:00:00Z"),
      }),
      pod("m-v2-b", {
        phase: "Pending",
        containerStatuses: [container("serve", { state: { waiting: { reason: "ContainerCreating" } } })],
      }),
    ]);
    expect(describeUnready(unready!)).toBe(`pod m-v2-a was stopped by its node: Evicted: ${evictionMessage}`);
  });

  it("names both an unready pod and an eviction", () => {
    const unready = unreadyPods([
      pod("m-v2-a", { phase: "Failed", reason: "Evicted", message: evictionMessage }),
      pod("m-v2-b", { phase: "Running", containerStatuses: [running("2026-12-01T10:01:02Z")] }),
    ]);
    expect(describeUnready(unready!)).toMatch(
      /^pod m-v2-b, container serve: running since .*; pod m-v2-a was stopped by its node: Evicted: The node was low on resource: memory\./,
    );
  });

  it("ignores pods being deleted and ended pods without a reason", () => {
    expect(
      unreadyPods([
        {
          metadata: { name: "a", deletionTimestamp: "now" },
          status: { phase: "Running", containerStatuses: [running("2026-12-01T10:00:00Z")] },
        },
        pod("b", { phase: "Succeeded" }),
      ]),
    ).toBeUndefined();
  });
});

describe("the probe's own failure, from the kubelet's Unhealthy Events on the pod", () => {
  const notReady = () =>
    unreadyPods([
      {
        metadata: { name: "m-v2-b", uid: "u-b" },
        status: { phase: "Running", containerStatuses: [running("2026-12-01T10:01:02Z", { started: true })] },
      },
    ])!;
  const unhealthy = (message: string, lastTimestamp: string) => ({
    reason: "Unhealthy",
    message,
    lastTimestamp,
  });

  it("says which pod's Events to read", () => {
    expect(notReady().notReady?.probe).toEqual({
      podUid: "u-b",
      kind: "Readiness",
      sinceMs: Date.parse("2026-12-01T10:01:02Z"),
    });
  });

  it("takes the latest failure of that probe since the container started, and names it", () => {
    const unready = notReady();
    const failure = probeFailure(
      [
        unhealthy("Readiness probe failed: connection refused", "2026-12-01T10:01:10Z"),
        unhealthy("Readiness probe failed: HTTP probe failed with statuscode: 503", "2026-12-01T10:02:00Z"),
        unhealthy("Liveness probe failed: timeout", "2026-12-01T10:03:00Z"),
        unhealthy("Readiness probe failed: before this run", "2026-12-01T10:00:00Z"),
      ],
      unready.notReady!.probe!,
    );
    expect(failure).toBe("Readiness probe failed: HTTP probe failed with statuscode: 503");
    expect(describeUnready(withProbeFailure(unready, failure))).toBe(
      "pod m-v2-b, container serve: running since 2026-12-01T10:01:02Z, not ready: Readiness probe failed: HTTP probe failed with statuscode: 503",
    );
  });

  it("is undefined when the kubelet reported no failure of it since the container started", () => {
    expect(
      probeFailure(
        [unhealthy("Readiness probe failed: before this run", "2026-12-01T10:00:00Z")],
        notReady().notReady!.probe!,
      ),
    ).toBeUndefined();
  });

  it("names a restarted container that is not running again yet", () => {
    const restarted = unreadyPods([
      pod("p", {
        phase: "Running",
        containerStatuses: [
          container("serve", {
            restartCount: 1,
            lastState: { terminated: { exitCode: 1, reason: "Error" } },
            state: { waiting: { reason: "ContainerCreating" } },
          }),
        ],
      }),
    ]);
    expect(restarted?.notReady?.probe).toBeUndefined();
    expect(describeUnready(restarted!)).toBe(
      "pod p, container serve: restarted after a failed exit, not ready yet (last exit: Error, exit code 1, 1 restart)",
    );
  });
});
