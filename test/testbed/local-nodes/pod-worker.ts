// The kubelet's work for one local pod: sandbox, volumes, init containers in order, containers with
// restart policy and back-off, probes, status, and graceful deletion.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import type { AgentContext } from "./agent-context.ts";
import { launchContainer, signalContainer } from "./container-launch.ts";
import { containerProcess, ContainerConfigError, isRunnableImage } from "./container-process.ts";
import { runFromOf } from "./image-config.ts";
import { imageSystemMounts, type LocalImage } from "./image-store.ts";
import { ApiError } from "./kube-api.ts";
import { ContainerRun, waitForExit } from "./container-run.ts";
import { enforceMemoryLimits } from "./memory-limit.ts";
import { planMounts } from "./mount-plan.ts";
import { PodSandbox } from "./pod-sandbox.ts";
import { buildPodStatus, statusDrifted, toApiJson } from "./pod-status.ts";
import { runProbes } from "./pod-probes.ts";
import { terminatePod } from "./pod-termination.ts";
import { podPhase, shouldRestart } from "./restart-backoff.ts";
import { containerMounts, syncVolumes } from "./volumes.ts";
import { fallbackTerminationMessage } from "./termination-message.ts";

const volumeResyncMs = 2_000;
const memoryCheckMs = 1_000;
const terminationRetryMs = 1_000;
/** Writes of a deleted pod's final status refused as stale before the termination is retried (100 ms apart). */
const finalStatusAttempts = 20;

/** One local pod, driven by `tick` from the agent's loop. */
export class PodWorker {
  pod: V1Pod;
  readonly inits: ContainerRun[];
  readonly containers: ContainerRun[];
  sandbox: PodSandbox | undefined;
  #volumePaths = new Map<string, string>();
  #lastVolumeSyncMs = 0;
  /** Whether the last volume sync set every volume up; until it has, no container starts. */
  #volumesReady = false;
  #lastStatus = "";
  /** Deleted and every container stopped: the phase is terminal from now on. */
  #stopped = false;
  /** The step under way, if any. */
  #ticking: Promise<void> | undefined;
  readonly #startTime = new Date();
  #lastMemoryCheckMs = 0;
  #terminating: Promise<void> | undefined;
  #terminationRetryAtMs = 0;
  /** True once the pod is gone for good (deleted and cleaned up). */
  done = false;

  readonly context: AgentContext;
  readonly #slot: number;

  constructor(context: AgentContext, pod: V1Pod, slot: number) {
    this.context = context;
    this.#slot = slot;
    this.pod = pod;
    this.inits = (pod.spec?.initContainers ?? []).map((spec) => new ContainerRun(spec));
    this.containers = (pod.spec?.containers ?? []).map((spec) => new ContainerRun(spec));
  }

  get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Every container run, init containers first. */
  get runs(): ContainerRun[] {
    return [...this.inits, ...this.containers];
  }

  /** One step of work; overlapping calls are skipped. */
  async tick(nowMs: number): Promise<void> {
    if (this.#ticking !== undefined || this.done) return;
    this.#ticking = this.#tickOnce(nowMs);
    try {
      await this.#ticking;
    } finally {
      this.#ticking = undefined;
    }
  }

  async #tickOnce(nowMs: number): Promise<void> {
    try {
      await this.#step(nowMs);
      await this.#pushStatus(nowMs);
    } catch (error) {
      this.context.log(`pod ${this.key}: ${(error as Error).message}`);
    }
  }

  /** Kills everything at once (the Pod object vanished, or the agent is stopping). */
  async kill(): Promise<void> {
    // Done first: an exit seen while killing must not start the container again.
    this.done = true;
    for (const run of this.runs) if (run.pid !== undefined) signalContainer(run.pid, "SIGKILL");
    // A step under way (waiting on the API server for a volume) writes the rest of the pod's volumes
    // when it resumes: the sandbox goes after it, or those files and tmpfs mounts would outlive it.
    await Promise.all([waitForExit(this.runs), this.#ticking]);
    this.sandbox?.teardown();
    this.sandbox = undefined;
  }

  async #step(nowMs: number): Promise<void> {
    if (this.pod.metadata?.deletionTimestamp !== undefined) {
      if (this.#terminating === undefined && nowMs >= this.#terminationRetryAtMs) {
        this.#terminating = terminatePod(this, this.context).then(
          () => {
            this.done = true;
          },
          (error: unknown) => {
            // The final delete (or the teardown) failed: the API server hung up, throttled, erred.
            // Unhandled, the rejection would end the agent; a later tick tries again instead (what
            // is stopped already stays stopped), as the kubelet does.
            this.context.log(`pod ${this.key}: deleting: ${(error as Error).message}; retrying in 1 s`);
            this.#terminationRetryAtMs = Date.now() + terminationRetryMs;
            this.#terminating = undefined;
          },
        );
      }
      return;
    }
    const unrunnable = this.runs.filter((run) => !isRunnableImage(run.image));
    if (unrunnable.length > 0) {
      for (const run of this.runs) {
        run.waiting = isRunnableImage(run.image)
          ? { reason: "PodInitializing" }
          : {
              reason: "ErrImageNotRunnableLocally",
              message: `image "${run.image}" cannot run on local node ${this.pod.spec?.nodeName}: local nodes run only the project's image (ghcr.io/jude-dev/jude, any tag)`,
            };
      }
      return;
    }
    if (this.#terminal()) {
      this.sandbox?.teardown();
      this.sandbox = undefined;
      return;
    }
    this.sandbox ??= new PodSandbox(this.context, this.pod, this.#slot);
    if (nowMs - this.#lastVolumeSyncMs >= volumeResyncMs) {
      this.#lastVolumeSyncMs = nowMs;
      this.sandbox.refreshHosts();
      try {
        this.#volumePaths = await syncVolumes(this.pod, this.sandbox.podDir, this.context.volumeSources);
        this.#volumesReady = true;
      } catch (error) {
        if (!(error instanceof ContainerConfigError)) throw error;
        this.#volumesReady = false;
        // A kubelet keeps such a pod ContainerCreating (with FailedMount Events) and mounts the volume
        // once its source exists; it is not a container config error, and a ConfigMap created just
        // after its pod (or not yet in this agent's cache) must not read as a failing pod.
        for (const run of this.runs)
          if (!run.running) run.waiting = { reason: "ContainerCreating", message: error.message };
        return;
      }
      // Killed while the volumes were written: start nothing more.
      if (this.done) return;
    }
    // Between resyncs too: a kubelet starts no container of a pod before all its volumes are set up
    // (the next tick started them against the missing volume's absent path).
    if (!this.#volumesReady) return;
    for (const run of this.runs) {
      if (run.launching && run.startedFile !== undefined && existsSync(run.startedFile))
        run.markRunning(nowMs);
    }
    if (!this.#runInitContainers(nowMs)) return;
    for (const run of this.containers) this.#startIfDue(run, nowMs);
    runProbes(this, nowMs);
    if (nowMs - this.#lastMemoryCheckMs >= memoryCheckMs) {
      this.#lastMemoryCheckMs = nowMs;
      enforceMemoryLimits(this.runs);
    }
  }

  /** Runs init containers one at a time; true once all have succeeded. */
  #runInitContainers(nowMs: number): boolean {
    for (const run of this.inits) {
      if (run.running) return false;
      if (run.terminated?.exitCode === 0) continue;
      this.#startIfDue(run, nowMs);
      return false;
    }
    return true;
  }

  #startIfDue(run: ContainerRun, nowMs: number): void {
    if (run.running) return;
    const policy = this.pod.spec?.restartPolicy;
    // Init containers of an Always pod are retried like OnFailure, as the kubelet does.
    const effective = this.inits.includes(run) && policy === "Always" ? "OnFailure" : policy;
    if (run.terminated !== undefined) {
      if (!shouldRestart(effective, run.terminated.exitCode)) return;
      if (nowMs < run.nextStartAtMs) {
        const seconds = Math.round((run.nextStartAtMs - run.terminated.finishedAt.getTime()) / 1000);
        run.waiting = {
          reason: "CrashLoopBackOff",
          message: `back-off ${seconds}s restarting failed container=${run.spec.name} pod=${this.pod.metadata?.name}`,
        };
        return;
      }
    }
    const image = this.#imageFor(run, nowMs);
    if (image !== false) this.#start(run, nowMs, effective, image);
  }

  /**
   * The built image `run` starts from (undefined: the checkout), or false while it cannot start yet:
   * the image is being mounted (ContainerCreating) or is not in this machine's image store.
   */
  #imageFor(run: ContainerRun, nowMs: number): LocalImage | undefined | false {
    try {
      if (runFromOf(this.pod, this.context.runFrom) === "checkout") return undefined;
    } catch (error) {
      run.waiting = { reason: "CreateContainerConfigError", message: (error as Error).message };
      return false;
    }
    const lookup = this.context.images.lookup(run.image, nowMs);
    if (lookup.state === "ready") return lookup.image;
    run.waiting =
      lookup.state === "pending"
        ? { reason: "ContainerCreating" }
        : { reason: "ErrImageNotRunnableLocally", message: lookup.message };
    return false;
  }

  #start(run: ContainerRun, nowMs: number, policy: string | undefined, image: LocalImage | undefined): void {
    const sandbox = this.sandbox!;
    const pod: V1Pod = {
      ...this.pod,
      status: {
        ...this.pod.status,
        podIP: sandbox.podIP,
        podIPs: [{ ip: sandbox.podIP }],
        hostIP: this.context.plan.gateway,
      },
    };
    let process;
    let mounts;
    try {
      process = containerProcess(pod, run.spec, this.context.envSources(pod), image?.defaults);
      mounts = containerMounts(
        run.spec,
        this.#volumePaths,
        (path) => statSync(path, { throwIfNoEntry: false })?.isFile() === true,
      );
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      run.waiting = { reason: "CreateContainerConfigError", message: error.message };
      return;
    }
    // From the checkout: the host's folders plus the launcher, Node and checkout. From an image: the
    // image's folders. Both read-only (a write there would land on the host, or in an image every pod
    // shares), both with the host's /proc, /sys and /dev. With readOnlyRootFilesystem, everything but
    // the volumes (and /proc, /sys, /dev) is read-only, as under a real runtime: the root too, /tmp
    // and /etc/hosts & co.
    const readOnlyRoot = run.spec.securityContext?.readOnlyRootFilesystem === true;
    const podMounts = sandbox
      .mounts()
      .map((mount) => ({ ...mount, readOnly: mount.readOnly || readOnlyRoot }));
    const ops =
      image === undefined
        ? planMounts(
            [...this.context.baseMounts, ...imageSystemMounts, ...podMounts, ...mounts],
            this.context.host,
            {
              sourceRoot: "/",
              readOnly: true,
            },
          )
        : planMounts([...imageSystemMounts, ...podMounts, ...mounts], image.tree, {
            sourceRoot: image.root,
            readOnly: true,
          });
    const uid = this.pod.metadata?.uid ?? "";
    const logFile = join(
      this.context.logDir,
      `${this.pod.metadata?.namespace}_${this.pod.metadata?.name}_${uid}`,
      run.spec.name,
      `${run.terminated === undefined ? run.restartCount : run.restartCount + 1}.log`,
    );
    const startedFile = join(sandbox.podDir, "started", `${run.spec.name}-${Date.now()}`);
    mkdirSync(dirname(startedFile), { recursive: true });
    const child = launchContainer(process, {
      netnsPath: sandbox.netnsPath,
      rootDir: sandbox.rootDir,
      ops,
      readOnlyRoot,
      logFile,
      startedFile,
    });
    child.once("error", (error) =>
      this.context.log(`pod ${this.key} container ${run.spec.name}: ${error.message}`),
    );
    child.once("exit", (code, signal) => {
      this.context.log(
        `pod ${this.key} container ${run.spec.name} pid ${child.pid} exited: ${signal === null ? `code ${code}` : `signal ${signal}`}`,
      );
      run.markExited(code, signal, Date.now(), shouldRestart(policy, code ?? 137));
      // What a kubelet reports of a container that failed without a termination-message file.
      const ended = run.terminated;
      if (ended !== undefined && ended.message === undefined) {
        const fallback = fallbackTerminationMessage(
          run.spec.terminationMessagePolicy,
          ended.exitCode,
          logFile,
        );
        if (fallback !== undefined) ended.message = fallback;
      }
      void this.tick(Date.now());
    });
    run.markLaunched(child, process, startedFile);
    run.source = image === undefined ? "checkout" : `image ${image.ref} (${image.id.slice(0, 12)})`;
    this.context.log(`pod ${this.key} container ${run.spec.name} started, pid ${child.pid}`);
  }

  /**
   * Writes the final status of the pod being deleted once its containers stopped: a terminal phase,
   * as the kubelet reports it (Succeeded when every container, init containers included, exited 0;
   * Failed otherwise, whatever the restart policy: a deleted pod's containers never run again).
   */
  async reportStopped(): Promise<void> {
    this.#stopped = true;
    // The pod changes under a deletion (the Eviction API adds DisruptionTarget, then deletes): a write
    // from a view the watch has not yet brought up to date is refused; write again from the newer one.
    for (let attempt = 1; !(await this.#pushStatus(Date.now())); attempt++) {
      if (attempt === finalStatusAttempts)
        throw new Error(`its final status: the pod kept changing (${attempt} conflicts)`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  #terminal(): boolean {
    const phase = this.#phase();
    return phase === "Succeeded" || phase === "Failed";
  }

  #phase(): "Pending" | "Running" | "Succeeded" | "Failed" {
    if (this.#stopped) {
      const succeeded = (run: ContainerRun) => run.terminated?.exitCode === 0;
      return this.inits.every(succeeded) && this.containers.every(succeeded) ? "Succeeded" : "Failed";
    }
    const policy = this.pod.spec?.restartPolicy;
    const failedInit = this.inits.find(
      (run) => !run.running && run.terminated !== undefined && run.terminated.exitCode !== 0,
    );
    if (failedInit !== undefined && policy === "Never") return "Failed";
    const initialized = this.inits.every((run) => run.terminated?.exitCode === 0);
    return podPhase(
      this.pod,
      this.containers.map((run) => ({
        running: run.running,
        exitCode: run.terminated?.exitCode,
        willRestart: run.terminated !== undefined && shouldRestart(policy, run.terminated.exitCode),
      })),
      initialized,
    );
  }

  /** Writes the pod's status when it changed; false when the pod changed since this view of it (409). */
  async #pushStatus(nowMs: number): Promise<boolean> {
    const status = buildPodStatus(
      this.pod,
      {
        phase: this.#phase(),
        sandboxReady: this.sandbox !== undefined,
        initialized: this.inits.every((run) => run.terminated?.exitCode === 0),
        containersReady: this.containers.every((run) => run.ready),
        podIP: this.sandbox?.podIP ?? this.pod.status?.podIP,
        hostIP: this.context.plan.gateway,
        startTime: this.#startTime,
        initContainerStatuses: this.inits.map((run) => run.status()),
        containerStatuses: this.containers.map((run) => run.status()),
      },
      new Date(nowMs),
    );
    const json = JSON.stringify(
      toApiJson({
        ...status,
        conditions: status.conditions?.map(({ lastTransitionTime: _, ...rest }) => rest),
      }),
    );
    // Unchanged since the last write, and the API still says so (the pod cache follows the API).
    if (json === this.#lastStatus && !statusDrifted(this.pod, status)) return true;
    try {
      await this.context.writeStatus(this.pod, toApiJson(status) as typeof status);
    } catch (error) {
      // Someone wrote the pod after this view of it (the Eviction API's DisruptionTarget): the watch
      // brings the newer pod, and the next tick (or the termination's retry) writes from it.
      if (error instanceof ApiError && error.status === 409) return false;
      throw error;
    }
    this.#lastStatus = json;
    return true;
  }
}
