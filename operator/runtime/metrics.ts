// The operator's Prometheus metrics, all prefixed jude_operator_, in a registry of their own (so two
// managers in one test process do not collide). Process metrics (RSS, heap, event-loop lag) come
// with the same prefix.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Every metric the runtime records. */
export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"controller" | "result">;
  reconcileErrors: Counter<"controller">;
  reconcileDuration: Histogram<"controller">;
  queueDepth: Gauge<"controller">;
  queueLatency: Histogram<"controller">;
  queueRetries: Counter<"controller">;
  reconcileFailing: Gauge<"controller" | "namespace" | "name">;
  watchRestarts: Counter<"resource" | "reason">;
  watchActivityAge: Gauge<"resource">;
  /** Sets watchActivityAge from the running informers; called at each scrape (set by the informer cache). */
  watchAges: { refresh: (() => void) | undefined };
  apiRequests: Counter<"verb" | "code">;
  leader: Gauge;
}

/** Creates the registry and the metrics, with process metrics. */
export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "jude_operator_" });
  const registers = [registry];
  const latencyBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60];
  const watchAges: OperatorMetrics["watchAges"] = { refresh: undefined };
  return {
    registry,
    watchAges,
    reconciles: new Counter({
      name: "jude_operator_reconciles_total",
      help: "Reconciles by controller and result (success, requeue, error; deferred: not run because the cache did not show the controller's own last status write yet, or could not list what the controller reads in the object's namespace).",
      labelNames: ["controller", "result"],
      registers,
    }),
    reconcileErrors: new Counter({
      name: "jude_operator_reconcile_errors_total",
      help: "Reconciles that failed and were queued for a retry with back-off.",
      labelNames: ["controller"],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: "jude_operator_reconcile_duration_seconds",
      help: "Time one reconcile took.",
      labelNames: ["controller"],
      buckets: latencyBuckets,
      registers,
    }),
    queueDepth: new Gauge({
      name: "jude_operator_workqueue_depth",
      help: "Keys waiting in a controller's work queue.",
      labelNames: ["controller"],
      registers,
    }),
    queueLatency: new Histogram({
      name: "jude_operator_workqueue_latency_seconds",
      help: "Time a key waited in the work queue before a worker took it.",
      labelNames: ["controller"],
      buckets: latencyBuckets,
      registers,
    }),
    queueRetries: new Counter({
      name: "jude_operator_workqueue_retries_total",
      help: "Keys queued again after a failure, with back-off.",
      labelNames: ["controller"],
      registers,
    }),
    reconcileFailing: new Gauge({
      name: "jude_operator_reconcile_failing",
      help: "1 while every reconcile of a resource fails, or it is not reconciled because the operator cannot list what it reads (its Stalled condition says ReconcileError); the series goes away when one succeeds.",
      labelNames: ["controller", "namespace", "name"],
      registers,
    }),
    watchRestarts: new Counter({
      name: "jude_operator_watch_restarts_total",
      help: "List/watch restarts by resource and reason (closed: server timeout, gone: a relist, after 410 Gone or once a refused watch is allowed again, error: back-off, stalled: a dead watch given up and reopened).",
      labelNames: ["resource", "reason"],
      registers,
    }),
    watchActivityAge: new Gauge({
      name: "jude_operator_watch_last_event_age_seconds",
      help: "Seconds since an informer's last successful list, watch connection or event.",
      labelNames: ["resource"],
      registers,
      // Measured at scrape time: an age set only when something else asked (the readiness probe)
      // would show Prometheus a value as old as that last question.
      collect() {
        watchAges.refresh?.();
      },
    }),
    apiRequests: new Counter({
      name: "jude_operator_api_requests_total",
      help: "Requests to the Kubernetes API by verb and HTTP status code (0: no answer).",
      labelNames: ["verb", "code"],
      registers,
    }),
    leader: new Gauge({
      name: "jude_operator_leader",
      help: "1 while this replica runs the controllers (holds the leader lease, or runs without leader election).",
      registers,
    }),
  };
}
