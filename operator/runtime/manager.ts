// The manager runs the controllers of one operator process: health and metrics endpoints, leader
// election, the shared informer cache and the controllers, and an orderly shutdown (stop taking keys,
// let reconciles in progress finish within the drain time, stop watches, release the Lease).
// The Lease is renewed until the drain is over, not just until SIGTERM: the drain (25 s by default)
// outlasts the Lease (15 s), and a standby that took an unrenewed Lease would reconcile while this
// replica still finishes its reconciles — two writers. Releasing it right after the drain lets the
// standby take over at once (controller-runtime's LeaderElectionReleaseOnCancel). Losing the Lease,
// while running or while draining, aborts the reconciles at once and their writes are refused.
import type { Server } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../../plumbing/logger.ts";
import { drainWithin } from "../../plumbing/shutdown.ts";
import { Controller } from "./controller.ts";
import { defaultFailurePolicy } from "./failure-streaks.ts";
import { startHealthServer } from "./health-server.ts";
import { InformerCache } from "./informer-cache.ts";
import { KubeClient } from "./kube-client.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader-elector.ts";
import { createOperatorMetrics, type OperatorMetrics } from "./metrics.ts";
import type { RetryOptions } from "./rate-limiter.ts";
import type { ControllerDefinition } from "./types.ts";

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; undefined watches all. */
  namespaces?: readonly string[];
  log: Logger;
  http: { host: string; port: number };
  /** Undefined runs without leader election (one replica only). */
  leaderElection?: LeaderElectionOptions;
  /** /readyz fails when an informer saw no list, connection or event for this long. */
  watchStaleMs: number;
  /** The informers' server-side watch timeout, at least (Informer's default 60 s when absent; tests). */
  watchTimeoutSeconds?: number;
  /** How long reconciles in progress may take to finish after shutdown begins. */
  drainMs: number;
  /** Overall retry rate of each work queue, and the cap of a failed key's back-off (60 s by default). */
  retry?: RetryOptions;
  /**
   * A key whose reconciles have failed on every try (at least three) for this long is reported on its
   * object (ControllerDefinition.reportFailure). Default 60 s.
   */
  reconcileErrorAfterMs?: number;
}

type Phase = "starting" | "standby" | "syncing" | "running" | "stopping";

/** Owns the lifecycle of the runtime; add controllers, then run(). */
export class Manager {
  readonly metrics: OperatorMetrics = createOperatorMetrics();
  readonly #options: ManagerOptions;
  readonly #definitions: ControllerDefinition[] = [];
  readonly #client: KubeClient;
  #phase: Phase = "starting";
  #cache: InformerCache | undefined;
  #server: Server | undefined;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.#client = new KubeClient(options.kubeConfig, (verb, code) =>
      this.metrics.apiRequests.inc({ verb, code: String(code) }),
    );
  }

  /** Registers a controller; before run() only. */
  add(definition: ControllerDefinition): void {
    if (this.#definitions.some((existing) => existing.name === definition.name))
      throw new Error(`controller ${definition.name} registered twice`);
    this.#definitions.push(definition);
  }

  /** The address of the health server once run() has started it. */
  get server(): Server | undefined {
    return this.#server;
  }

  /**
   * Runs until `signal` aborts (resolves after a graceful shutdown) or leadership is lost (rejects
   * after stopping the controllers; the process should exit and restart as a standby).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { log, http, leaderElection } = this.#options;
    this.#server = await startHealthServer({
      ...http,
      registry: this.metrics.registry,
      readiness: () => this.#readiness(),
    });
    const elector =
      leaderElection === undefined ? undefined : new LeaderElector(this.#client, leaderElection, log);
    // Aborted when leadership is lost or the drain time is up: reconciles stop and writes are refused.
    const leading = new AbortController();
    const stopKeeping = new AbortController();
    let kept: Promise<void> | undefined;
    const controllers: Controller[] = [];
    try {
      if (elector !== undefined) {
        this.#phase = "standby";
        await elector.acquire(signal);
      }
      // Without leader election the only replica runs the controllers: it leads.
      this.metrics.leader.set(1);
      // Renewal starts with leadership, not after the caches synced: an initial list that takes
      // longer than the Lease lasts would otherwise let a standby take over while this replica is
      // about to start its controllers. It runs until the shutdown's drain is over (stopKeeping),
      // and rejects when leadership is lost.
      kept = elector === undefined ? waitForAbort(stopKeeping.signal) : elector.keep(stopKeeping.signal);
      kept.catch((error: unknown) => leading.abort(error));
      this.#phase = "syncing";
      const cache = new InformerCache({
        client: this.#client,
        namespaces: this.#options.namespaces,
        log,
        metrics: this.metrics,
        ...(this.#options.watchTimeoutSeconds !== undefined
          ? { watchTimeoutSeconds: this.#options.watchTimeoutSeconds }
          : {}),
      });
      this.#cache = cache;
      for (const definition of this.#definitions) {
        controllers.push(
          new Controller(definition, {
            client: this.#client,
            cache,
            metrics: this.metrics,
            log,
            retry: this.#options.retry,
            ...(this.#options.reconcileErrorAfterMs !== undefined
              ? { failurePolicy: { ...defaultFailurePolicy, afterMs: this.#options.reconcileErrorAfterMs } }
              : {}),
          }),
        );
      }
      log.info(
        {
          all: cache.scopes().flatMap((scope) => (scope.managedOnly ? [] : [scope.resource])),
          managedOnly: cache.scopes().flatMap((scope) => (scope.managedOnly ? [scope.resource] : [])),
        },
        "starting informers",
      );
      await Promise.race([abortable(cache.start(), signal), kept]);
      // Checked before every write: a replica that resumes after a stop longer than its renew deadline
      // is no leader any more, whether or not its renewal timer has run yet (leader-elector.ts).
      const fence = (): void => {
        if (elector !== undefined && !leading.signal.aborted && !elector.holds())
          leading.abort(new Error("lost the leader lease: not renewed within the renew deadline"));
        leading.signal.throwIfAborted();
      };
      for (const controller of controllers) controller.start(leading.signal, fence);
      this.#phase = "running";
      log.info(
        { controllers: this.#definitions.map((d) => d.name), namespaces: this.#options.namespaces ?? "all" },
        "controllers running",
      );
      // Leadership ends when renewal fails (kept rejects) or when the fence finds the Lease expired
      // first (leading aborts): either way this process stops and restarts as a standby.
      const fenced = new Promise<never>((_, reject) =>
        leading.signal.addEventListener("abort", () => reject(leading.signal.reason as Error), {
          once: true,
        }),
      );
      fenced.catch(() => undefined);
      await abortable(Promise.race([kept, fenced]), signal);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      this.#phase = "stopping";
      await this.#shutdown(controllers, { leading, stopKeeping, kept }, elector);
    }
  }

  async #shutdown(
    controllers: Controller[],
    lease: { leading: AbortController; stopKeeping: AbortController; kept: Promise<void> | undefined },
    elector: LeaderElector | undefined,
  ): Promise<void> {
    const { log, drainMs } = this.#options;
    const { leading, stopKeeping, kept } = lease;
    const stopped = Promise.all(controllers.map((controller) => controller.stop()));
    // Reconciles in progress finish within the drain time, while the Lease is still renewed; after
    // it (or as soon as the Lease is lost) their signal aborts them.
    const drained = await drainWithin(stopped, drainMs, () => leading.abort(new Error("drain time is up")));
    if (!drained)
      log.warn({ drainMs }, "reconciles were still running after the drain time and were aborted");
    leading.abort(new Error("operator shutting down"));
    stopKeeping.abort();
    const lost = await kept?.then(
      () => undefined,
      (error: unknown) => error,
    );
    if (lost !== undefined && controllers.length > 0)
      log.warn({ err: lost }, "lost the leader lease; reconciles in progress were aborted");
    await Promise.all(controllers.map((controller) => controller.close()));
    await this.#cache?.stop();
    // After the drain, so that no reconcile of this replica overlaps the next leader's.
    await elector?.release();
    await this.#client.close();
    this.metrics.leader.set(0);
    await new Promise((resolve) => this.#server?.close(resolve));
    log.info("operator stopped");
  }

  #readiness(): Record<string, string | undefined> {
    if (this.#phase === "standby" || this.#phase === "starting") return { leader: undefined };
    if (this.#phase === "stopping") return { shutdown: "shutting down" };
    const staleSeconds = this.#options.watchStaleMs / 1000;
    const checks: Record<string, string | undefined> = {};
    for (const informer of this.#cache?.health() ?? []) {
      checks[`informer:${informer.name}`] = !informer.synced
        ? `initial list not complete${informer.syncError === undefined ? "" : `: ${informer.syncError}`}`
        : (informer.ageSeconds ?? Infinity) > staleSeconds
          ? `no successful watch activity for ${Math.round(informer.ageSeconds ?? Infinity)} s (limit ${staleSeconds} s)${informer.failure === undefined ? "" : `: ${informer.failure}`}`
          : undefined;
    }
    return checks;
  }
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** `promise`, or a rejection with the abort reason when `signal` aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    }),
  ]);
}
