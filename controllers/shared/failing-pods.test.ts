import type { V1ContainerStatus } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  describeFailing,
  failingPods,
  lastFailedContainer,
  stuckStartMs,
  type PodContainersView,
} from "./failing-pods.ts";

const container = (name: string, fields: Partial<V1ContainerStatus>): V1ContainerStatus => ({
  name,
  image: "ghcr.io/jude-dev/jude:0.1.0",
  imageID: "",
  ready: false,
  restartCount: 0,
  ...fields,
});
const waiting = (reason: string, message?: string) => ({
  state: { waiting: { reason, ...(message !== undefined ? { message } : {}) } },
});
const pod = (
  name: string,
  containers: V1ContainerStatus[],
  inits: V1ContainerStatus[] = [],
): PodContainersView => ({
  metadata: { name },
  status: { containerStatuses: containers, initContainerStatuses: inits },
});

describe("pods whose containers the kubelet cannot start or keep running (decision table)", () => {
  it.each([
    ["starting: ContainerCreating", pod("p", [container("serve", waiting("ContainerCreating"))]), undefined],
    [
      "waiting for its init containers",
      pod("p", [container("serve", waiting("PodInitializing"))]),
      undefined,
    ],
    ["running", pod("p", [container("serve", { state: { running: {} } })]), undefined],
    ["no status yet", { metadata: { name: "p" } }, undefined],
    [
      "image pull back-off",
      pod("p", [container("serve", waiting("ImagePullBackOff", "Back-off"))]),
      "ImagePullBackOff",
    ],
    [
      "first pull failed",
      pod("p", [container("serve", waiting("ErrImagePull", "not found"))]),
      "ErrImagePull",
    ],
    [
      "missing Secret key",
      pod("p", [container("nearline", waiting("CreateContainerConfigError"))]),
      "CreateContainerConfigError",
    ],
    ["crash loop", pod("p", [container("nearline", waiting("CrashLoopBackOff"))]), "CrashLoopBackOff"],
    [
      "an init container's image (the main container waits PodInitializing)",
      pod(
        "p",
        [container("serve", waiting("PodInitializing"))],
        [container("fetch-model", waiting("ImagePullBackOff"))],
      ),
      "ImagePullBackOff",
    ],
    [
      "a runtime's own reason (the testbed's local nodes)",
      pod("p", [container("serve", waiting("ErrImageNotRunnableLocally"))]),
      "ErrImageNotRunnableLocally",
    ],
  ] as const)("%s -> %s", (_, view, reason) => {
    expect(failingPods([view])?.reason).toBe(reason);
  });

  it("ignores pods being deleted", () => {
    const deleting = {
      ...pod("p", [container("serve", waiting("CrashLoopBackOff"))]),
      metadata: { name: "p", deletionTimestamp: "now" },
    };
    expect(failingPods([deleting])).toBeUndefined();
  });

  it("names the pod, the container, the kubelet's reason and message", () => {
    const message = 'Back-off pulling image "registry.example.com/jude:0.9.9"';
    const failing = failingPods([
      pod("ok", [container("serve", { state: { running: {} } })]),
      pod("jobs-v1-nearline-a", [container("nearline", waiting("ImagePullBackOff", message))]),
      pod("jobs-v1-nearline-b", [container("nearline", waiting("ErrImagePull", "not found"))]),
    ]);
    expect(failing).toEqual({
      pods: 2,
      firstPod: "jobs-v1-nearline-a",
      container: "container nearline",
      reason: "ImagePullBackOff",
      message,
    });
    expect(describeFailing(failing!)).toBe(
      `2 pods cannot run (jobs-v1-nearline-a, container nearline): ImagePullBackOff: ${message}`,
    );
  });

  it("names the last exit of a crash loop: OOMKilled and its exit code", () => {
    const failing = failingPods([
      pod("w", [
        container("nearline", {
          restartCount: 3,
          ...waiting("CrashLoopBackOff", "back-off 40s restarting failed container=nearline pod=w"),
          lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
        }),
      ]),
    ]);
    expect(describeFailing(failing!)).toBe(
      "1 pod cannot run (w, container nearline): CrashLoopBackOff: back-off 40s restarting failed container=nearline pod=w; last exit: OOMKilled, exit code 137, 3 restarts",
    );
  });
});

describe("pods whose containers never start (a volume that will not mount, a sandbox never created)", () => {
  const now = Date.parse("2026-12-04T12:00:00Z");
  const startedAgo = (ms: number, view: PodContainersView): PodContainersView => ({
    ...view,
    status: { ...view.status, startTime: new Date(now - ms) },
  });
  const mountMessage = 'MountVolume.SetUp failed for volume "config": configmap "m-v1" not found';

  it.each([
    [
      "ContainerCreating past the limit",
      startedAgo(stuckStartMs + 1000, pod("p", [container("serve", waiting("ContainerCreating"))])),
      "ContainerCreating",
    ],
    [
      "ContainerCreating within the limit",
      startedAgo(stuckStartMs - 1000, pod("p", [container("serve", waiting("ContainerCreating"))])),
      undefined,
    ],
    [
      "no init container started past the limit (all PodInitializing)",
      startedAgo(
        stuckStartMs + 1000,
        pod(
          "p",
          [container("serve", waiting("PodInitializing"))],
          [container("fetch-model", waiting("PodInitializing"))],
        ),
      ),
      "PodInitializing",
    ],
    [
      "an init container running long (a large model download)",
      startedAgo(
        stuckStartMs * 3,
        pod(
          "p",
          [container("serve", waiting("PodInitializing"))],
          [container("fetch-model", { state: { running: {} } })],
        ),
      ),
      undefined,
    ],
    [
      "no start time (not yet seen by a kubelet)",
      pod("p", [container("serve", waiting("ContainerCreating"))]),
      undefined,
    ],
  ] as const)("%s -> %s", (_, view, reason) => {
    expect(failingPods([view], now)?.reason).toBe(reason);
  });

  it("names the pod, how long it has waited, the runtime's message and where the cause is", () => {
    const failing = failingPods(
      [
        startedAgo(
          6 * 60_000,
          pod("m-v1-abc-x", [container("serve", waiting("ContainerCreating", mountMessage))]),
        ),
      ],
      now,
    );
    expect(describeFailing(failing!)).toBe(
      `1 pod cannot run (m-v1-abc-x, container serve): ContainerCreating: ${mountMessage}; no container started in 6m (a volume that cannot mount, a sandbox the runtime cannot create, or an image still pulling): kubectl describe pod m-v1-abc-x shows its events`,
    );
  });
});

describe("a crash's termination message made of its last log lines (FallbackToLogsOnError)", () => {
  // What the kubelet puts there: the last 80 lines, at most 2 KiB, so the first may be cut; jude's
  // logs are pino JSON, and the line that says why it exited is the last error, not the first bytes.
  const error = {
    type: "Error",
    message: "cannot read the model file /models/model.onnx: ENOENT: no such file or directory",
    stack: `Error: cannot read the model file /models/model.onnx\n${"    at loadModel (file:///app/serving/backend/onnx.ts:40:11)\n".repeat(8)}`,
  };
  const logTail = [
    'ng","msg":"gRPC server listening"}',
    JSON.stringify({ level: 30, time: 1, pid: 7, component: "serving", msg: "loading the model" }),
    JSON.stringify({
      level: 50,
      time: 2,
      pid: 7,
      component: "serving",
      err: error,
      msg: "cannot start the embedding server",
    }),
    JSON.stringify({ level: 30, time: 3, pid: 7, component: "serving", msg: "server closed" }),
    "",
  ].join("\n");
  const crashed = container("serve", {
    restartCount: 2,
    ...waiting("CrashLoopBackOff", "back-off 20s restarting failed container=serve pod=p"),
    lastState: { terminated: { exitCode: 1, reason: "Error", message: logTail, finishedAt: new Date(3) } },
  });

  it("names the last error line's message and its error's message", () => {
    expect(describeFailing(failingPods([pod("p", [crashed])])!)).toBe(
      "1 pod cannot run (p, container serve): CrashLoopBackOff: back-off 20s restarting failed container=serve pod=p; last exit: Error, exit code 1 (cannot start the embedding server: cannot read the model file /models/model.onnx: ENOENT: no such file or directory), 2 restarts",
    );
  });

  // pino appends an error's causes to err.message; fetch-model logs the error's own message as msg.
  it("names fetch-model's error once, not again with the cause pino appended to it", () => {
    const said = "cannot read /models/m.onnx: ENOENT: no such file or directory";
    const tail = JSON.stringify({
      level: 50,
      component: "fetch-model",
      code: "NOT_FOUND",
      err: {
        type: "FetchModelError",
        message: `${said}: ENOENT: no such file or directory, stat '/models/m.onnx'`,
      },
      msg: said,
    });
    const fetch = container("fetch-model", {
      restartCount: 2,
      ...waiting("CrashLoopBackOff", "back-off 20s"),
      lastState: { terminated: { exitCode: 1, reason: "Error", message: tail, finishedAt: new Date(3) } },
    });
    expect(describeFailing(failingPods([pod("p", [], [fetch])])!)).toBe(
      `1 pod cannot run (p, init container fetch-model): CrashLoopBackOff: back-off 20s; last exit: Error, exit code 1 (${said}), 2 restarts`,
    );
  });

  it("names it for a shard that is not restarted too", () => {
    const ended = container("bootstrap", { state: crashed.lastState! });
    expect(lastFailedContainer([pod("s", [ended])])).toBe(
      "pod s, container bootstrap: Error, exit code 1 (cannot start the embedding server: cannot read the model file /models/model.onnx: ENOENT: no such file or directory)",
    );
  });

  it("names the uncaught exception Node printed after the last log line, not that line", () => {
    const uncaught = [
      JSON.stringify({ level: 30, time: 1, component: "nearline", msg: "partitions assigned" }),
      "file:///app/pipelines/nearline/worker.ts:88",
      "    throw new Error(`unexpected batch state ${state}`);",
      "    ^",
      "",
      "Error: unexpected batch state draining",
      "    at Worker.flush (file:///app/pipelines/nearline/worker.ts:88:11)",
      "",
      "Node.js v24.21.0",
      "",
    ].join("\n");
    const ended = container("nearline", {
      state: { terminated: { exitCode: 1, reason: "Error", message: uncaught } },
    });
    expect(lastFailedContainer([pod("w", [ended])])).toBe(
      "pod w, container nearline: Error, exit code 1 (Error: unexpected batch state draining)",
    );
  });

  it("keeps a message the container wrote itself, or plain output, on one line", () => {
    const exited = (message: string) =>
      lastFailedContainer([
        pod("s", [
          container("bootstrap", { state: { terminated: { exitCode: 2, reason: "Error", message } } }),
        ]),
      ]);
    const fetchFailed = JSON.stringify({
      level: 50,
      code: "DIGEST_MISMATCH",
      err: { message: "sha256 of model.onnx is 1234, expected abcd" },
      msg: "sha256 of model.onnx is 1234, expected abcd",
    });
    expect(exited(`${fetchFailed}\n`)).toBe(
      "pod s, container bootstrap: Error, exit code 2 (sha256 of model.onnx is 1234, expected abcd)",
    );
    expect(exited(" \n")).toBe("pod s, container bootstrap: Error, exit code 2");
    expect(exited("config file not found\n")).toBe(
      "pod s, container bootstrap: Error, exit code 2 (config file not found)",
    );
    expect(exited("jude serve: --config is required\n\nusage: jude serve --config FILE\n")).toBe(
      "pod s, container bootstrap: Error, exit code 2 (jude serve: --config is required usage: jude serve --config FILE)",
    );
  });
});

describe("a termination message quoted into a status and an Event", () => {
  const exited = (message: string) =>
    lastFailedContainer([
      pod("w", [container("nearline", { state: { terminated: { exitCode: 1, reason: "Error", message } } })]),
    ]);

  it("masks a password or token a container printed, as reconcile errors are masked", () => {
    // Output jude does not format itself (a library's stderr, a crash report) is quoted as it is.
    expect(
      exited(
        "could not connect to redis://jude:faultSECRETxyz@redis:6379/0 (password=faultSECRETxyz, retrying)\n",
      ),
    ).toBe(
      "pod w, container nearline: Error, exit code 1 (could not connect to redis://***@redis:6379/0 (password=***, retrying))",
    );
    const logged = JSON.stringify({
      level: 50,
      err: { message: "auth failed for Bearer tokSECRETbearer" },
      msg: "cannot start",
    });
    expect(exited(`${logged}\n`)).toBe(
      "pod w, container nearline: Error, exit code 1 (cannot start: auth failed for Bearer ***)",
    );
  });

  it("names the message of a last log line longer than the tail the kubelet keeps, not its cut end", () => {
    // A Kafka client's aggregate error serializes to more than 2 KiB: the tail starts inside that
    // line's error stacks, and pino writes the line's msg last.
    const line = JSON.stringify({
      level: 50,
      time: 1,
      component: "nearline",
      err: {
        type: "MultipleErrors",
        message: "Listing topics failed.",
        stack: `AggregateError: Listing topics failed.\n${"    at worked (/app/node_modules/fastq/queue.js:259:14)\n".repeat(60)}`,
      },
      msg: "nearline worker failed to start",
    });
    const tail = `${line}\n`.slice(-2048);
    expect(exited(tail)).toBe(
      "pod w, container nearline: Error, exit code 1 (nearline worker failed to start)",
    );
  });
});

describe("a crash loop between two back-offs (started again after a failed exit)", () => {
  const nowMs = Date.parse("2026-12-01T10:10:00Z");
  const crashed = { lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } }, restartCount: 2 };
  const running = (startedAt: string, ready: boolean) =>
    container("serve", { ...crashed, ready, state: { running: { startedAt: new Date(startedAt) } } });

  it.each([
    ["starting again", container("serve", { ...crashed, ...waiting("ContainerCreating") }), true],
    ["running, not ready, started a minute ago", running("2026-12-01T10:09:00Z", false), true],
    [
      "ended again, before its back-off",
      container("serve", { ...crashed, state: { terminated: { exitCode: 1 } } }),
      true,
    ],
    ["running and ready: recovered", running("2026-12-01T10:09:00Z", true), false],
    [
      "running, not ready, for longer than the kubelet's back-off reset",
      running("2026-12-01T09:59:00Z", false),
      false,
    ],
    [
      "an init container that completed after a failed run",
      container("fetch-model", { ...crashed, state: { terminated: { exitCode: 0 } } }),
      false,
    ],
    [
      "running after a clean exit",
      container("serve", { lastState: { terminated: { exitCode: 0 } }, state: { running: {} } }),
      false,
    ],
  ] as const)("%s: failing %s", (_, status, expected) => {
    expect(failingPods([pod("p", [status])], nowMs) !== undefined).toBe(expected);
  });

  it("keeps the reason CrashLoopBackOff and names the last exit", () => {
    const failing = failingPods([pod("p", [running("2026-12-01T10:09:00Z", false)])], nowMs);
    expect(describeFailing(failing!)).toBe(
      "1 pod cannot run (p, container serve): CrashLoopBackOff: started again, not ready yet; last exit: OOMKilled, exit code 137, 2 restarts",
    );
  });
});

describe("the last container that failed (pods that are not restarted: bootstrap shards)", () => {
  const ended = (name: string, exitCode: number, reason: string, finishedAt: string): PodContainersView => ({
    metadata: { name },
    status: {
      containerStatuses: [
        container("bootstrap", {
          state: { terminated: { exitCode, reason, finishedAt: new Date(finishedAt) } },
        }),
      ],
    },
  });

  it("names the latest non-zero exit: pod, container, reason and exit code", () => {
    const failure = lastFailedContainer([
      ended("run-bootstrap-0-a", 137, "OOMKilled", "2026-12-01T10:00:00Z"),
      ended("run-bootstrap-1-b", 0, "Completed", "2026-12-01T10:05:00Z"),
      ended("run-bootstrap-0-c", 137, "OOMKilled", "2026-12-01T10:02:00Z"),
      pod("run-bootstrap-1-d", [container("bootstrap", { state: { running: {} } })]),
    ]);
    expect(failure).toBe("pod run-bootstrap-0-c, container bootstrap: OOMKilled, exit code 137");
  });

  it("is undefined when no container failed", () => {
    expect(lastFailedContainer([ended("p", 0, "Completed", "2026-12-01T10:00:00Z")])).toBeUndefined();
  });
});

describe("one failed exit is not a crash loop (the kubelet restarts a first failure at once)", () => {
  const nowMs = Date.parse("2026-12-01T10:10:00Z");
  const exit = (startedAt: string, finishedAt: string, exitCode = 1) => ({
    terminated: {
      exitCode,
      reason: "Error",
      startedAt: new Date(startedAt),
      finishedAt: new Date(finishedAt),
    },
  });
  const runningSince = (startedAt: string) => ({ running: { startedAt: new Date(startedAt) } });

  it.each([
    [
      "restarted once after a failed exit, running, not ready yet",
      container("serve", {
        restartCount: 1,
        lastState: exit("2026-12-01T10:08:00Z", "2026-12-01T10:09:00Z"),
        state: runningSince("2026-12-01T10:09:01Z"),
      }),
      false,
    ],
    [
      "restarted once after a failed exit, starting",
      container("serve", {
        restartCount: 1,
        lastState: exit("2026-12-01T10:08:00Z", "2026-12-01T10:09:00Z"),
        ...waiting("ContainerCreating"),
      }),
      false,
    ],
    [
      "failed again after its restart: the kubelet backs off (CrashLoopBackOff)",
      container("serve", {
        restartCount: 1,
        lastState: exit("2026-12-01T10:09:01Z", "2026-12-01T10:09:30Z"),
        ...waiting("CrashLoopBackOff", "back-off 10s restarting failed container=serve pod=p"),
      }),
      true,
    ],
    [
      "started again after that back-off, not ready yet",
      container("serve", {
        restartCount: 2,
        lastState: exit("2026-12-01T10:09:01Z", "2026-12-01T10:09:30Z"),
        state: runningSince("2026-12-01T10:09:40Z"),
      }),
      true,
    ],
    [
      "a pod restarted often long ago that failed once after a long run (the kubelet's back-off reset)",
      container("serve", {
        restartCount: 5,
        lastState: exit("2026-11-28T10:00:00Z", "2026-12-01T10:09:00Z"),
        state: runningSince("2026-12-01T10:09:01Z"),
      }),
      false,
    ],
    [
      "that failed once more, soon after its restart: the kubelet backs off",
      container("serve", {
        restartCount: 6,
        lastState: exit("2026-12-01T10:09:01Z", "2026-12-01T10:09:20Z"),
        state: runningSince("2026-12-01T10:09:31Z"),
      }),
      true,
    ],
  ] as const)("%s: failing %s", (_, status, expected) => {
    expect(failingPods([pod("p", [status])], nowMs) !== undefined).toBe(expected);
  });

  it("an evicted pod (ended, never restarted) is not a crash loop whatever its containers last did", () => {
    const evicted: PodContainersView = {
      metadata: { name: "p" },
      status: {
        phase: "Failed",
        containerStatuses: [
          container("serve", {
            restartCount: 1,
            lastState: exit("2026-12-01T10:00:00Z", "2026-12-01T10:00:10Z"),
            state: {
              terminated: {
                exitCode: 137,
                reason: "ContainerStatusUnknown",
                message: "The container could not be located when the pod was terminated",
              },
            },
          }),
        ],
      },
    };
    expect(failingPods([evicted], nowMs)).toBeUndefined();
  });
});

describe("a crash loop caught between its exit and the kubelet's next decision", () => {
  it("names the exit that just ended, not the one before", () => {
    const failing = failingPods([
      pod("p", [
        container("serve", {
          restartCount: 2,
          lastState: { terminated: { exitCode: 1, reason: "Error" } },
          state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
        }),
      ]),
    ]);
    expect(describeFailing(failing!)).toBe(
      "1 pod cannot run (p, container serve): CrashLoopBackOff: ended again; last exit: OOMKilled, exit code 137, 2 restarts",
    );
  });
});
