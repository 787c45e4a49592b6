// One container of a local pod across its restarts: its process, exit, probes and restart back-off,
// and the containerStatus that describes it.
import type { ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import type { V1Container, V1ContainerState, V1ContainerStatus } from "@kubernetes/client-node";
import { constants } from "node:os";

const signals = constants.signals as Record<string, number>;
import type { ProcessSpec } from "./container-process.ts";
import { ProbeSchedule, type ProbeKind } from "./probe-schedule.ts";
import { restartDelayMs } from "./restart-backoff.ts";

/** How a container run ended. */
export interface Termination {
  exitCode: number;
  signal?: string;
  reason: string;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
}

/** The state of one container, kept by its pod worker. */
export class ContainerRun {
  readonly spec: V1Container;
  readonly image: string;
  restartCount = 0;
  child: ChildProcess | undefined;
  process: ProcessSpec | undefined;
  startedAt: Date | undefined;
  terminated: Termination | undefined;
  lastTerminated: Termination | undefined;
  waiting: { reason: string; message?: string } | undefined = { reason: "ContainerCreating" };
  probes: Partial<Record<ProbeKind, ProbeSchedule>> = {};
  /** File the launch script creates right before it execs the command (see mountScript). */
  startedFile: string | undefined;
  readonly probing = new Set<ProbeKind>();
  /** Earliest time of the next start (crash-loop back-off). */
  nextStartAtMs = 0;
  /** What the last run started from: `checkout` or `image <ref> (<id>)`. */
  source: string | undefined;
  /** Why the agent killed the process, when it did (liveness, OOM, deletion). */
  killReason: string | undefined;

  constructor(spec: V1Container) {
    this.spec = spec;
    this.image = spec.image ?? "";
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Started: running its command and past its startup probe (if any). */
  get started(): boolean {
    return (
      this.running &&
      !this.launching &&
      (this.probes.startup === undefined || this.probes.startup.verdict === "success")
    );
  }

  /** Ready: started and its readiness probe (if any) succeeds. */
  get ready(): boolean {
    return (
      this.started && (this.probes.readiness === undefined || this.probes.readiness.verdict === "success")
    );
  }

  /**
   * Records a spawned process. It is still assembling its root (ContainerCreating) until
   * `markRunning`, when the launch script is about to exec the container's command.
   */
  markLaunched(child: ChildProcess, process: ProcessSpec, startedFile: string): void {
    if (this.terminated !== undefined) {
      this.lastTerminated = this.terminated;
      this.restartCount += 1;
    }
    this.child = child;
    this.process = process;
    this.startedFile = startedFile;
    this.startedAt = undefined;
    this.terminated = undefined;
    this.waiting = { reason: "ContainerCreating" };
    this.killReason = undefined;
    this.probes = {};
  }

  /** True between spawn and the exec of the container's command. */
  get launching(): boolean {
    return this.child !== undefined && this.startedAt === undefined;
  }

  /** The command runs: the container has started, and its probes are armed from now. */
  markRunning(nowMs: number): void {
    this.startedAt = new Date(nowMs);
    this.waiting = undefined;
    if (this.spec.startupProbe !== undefined)
      this.probes.startup = new ProbeSchedule("startup", this.spec.startupProbe, nowMs);
    if (this.spec.readinessProbe !== undefined)
      this.probes.readiness = new ProbeSchedule("readiness", this.spec.readinessProbe, nowMs);
    if (this.spec.livenessProbe !== undefined)
      this.probes.liveness = new ProbeSchedule("liveness", this.spec.livenessProbe, nowMs);
  }

  /** Records the process's exit; `restart` says whether the restart policy brings it back. */
  markExited(code: number | null, signal: NodeJS.Signals | null, nowMs: number, restart: boolean): void {
    const exitCode = code ?? 128 + (signal === null ? 0 : (signals[signal] ?? 0));
    // A command that ran and ended between two ticks never showed as running; it did start.
    if (this.startedAt === undefined && this.startedFile !== undefined) {
      const started = statSync(this.startedFile, { throwIfNoEntry: false });
      if (started !== undefined) this.startedAt = started.mtime;
    }
    this.waiting = undefined;
    const startedAt = this.startedAt ?? new Date(nowMs);
    this.terminated = {
      exitCode,
      ...(signal === null ? {} : { signal }),
      reason: this.killReason === "OOMKilled" ? "OOMKilled" : exitCode === 0 ? "Completed" : "Error",
      ...(this.killReason !== undefined && this.killReason !== "OOMKilled"
        ? { message: this.killReason }
        : {}),
      startedAt,
      finishedAt: new Date(nowMs),
    };
    this.child = undefined;
    this.probes = {};
    if (restart) {
      const delay = restartDelayMs(this.restartCount, nowMs - startedAt.getTime());
      this.nextStartAtMs = nowMs + delay;
    }
  }

  /** The containerStatus the API shows for this container. */
  status(): V1ContainerStatus {
    let state: V1ContainerState;
    if (this.running && !this.launching) state = { running: { startedAt: this.startedAt } };
    else if (this.waiting !== undefined) state = { waiting: this.waiting };
    else if (this.terminated !== undefined) state = { terminated: terminatedState(this.terminated) };
    else state = { waiting: { reason: "ContainerCreating" } };
    // While waiting to restart, the run that just ended is the last state (as `kubectl describe` shows).
    const lastState =
      !this.running && this.waiting !== undefined && this.terminated !== undefined
        ? this.terminated
        : this.lastTerminated;
    return {
      name: this.spec.name,
      image: this.image,
      imageID: "",
      ...(this.pid === undefined ? {} : { containerID: `local://${this.pid}` }),
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
      state,
      lastState: lastState === undefined ? {} : { terminated: terminatedState(lastState) },
    };
  }
}

function terminatedState(termination: Termination): NonNullable<V1ContainerState["terminated"]> {
  return {
    exitCode: termination.exitCode,
    reason: termination.reason,
    ...(termination.message === undefined ? {} : { message: termination.message }),
    ...(termination.signal === undefined ? {} : { signal: signals[termination.signal] }),
    startedAt: termination.startedAt,
    finishedAt: termination.finishedAt,
  };
}

/** Resolves once none of `runs` has a process. */
export async function waitForExit(
  runs: readonly ContainerRun[],
  deadlineMs = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  while (runs.some((run) => run.running)) {
    if (Date.now() >= deadlineMs) return false;
    await new Promise((done) => setTimeout(done, 50));
  }
  return true;
}
