import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The integration files that may run BESIDE other integration files (the concurrent lane). Every
 * other file under test/integration runs in the serial lane, one file at a time, after this lane:
 * a file is serial unless it is listed here, so a new file that kills a shared Redis or lists every
 * namespace cannot break its neighbours by accident — whoever lists it here vouches that it:
 * - kills, pauses or reconfigures no shared testbed component (a private redis-server, TCP link or
 *   API fault proxy of its own is fine);
 * - changes no cluster-scoped object others rely on (installCrds() applies the same generated CRDs
 *   every file applies: idempotent), and runs its operators on its own namespaces only;
 * - reads no state another file changes (all-namespace lists or events, Redis KEYS/DBSIZE/INFO,
 *   broker-wide listings, node capacity, the local nodes);
 * - asserts no throughput, latency or CPU-bound timing (its waits are product timers with slack:
 *   resyncs, polls, leases, back-offs), and is not itself CPU-bound (model serving, image builds).
 * Names are unique per run (namespaces, topics, consumer groups and store names carry pid and time).
 * These files spend most of their time waiting on product timers, which is why they gain by
 * running side by side on a 2-core machine.
 */
export const concurrentIntegrationFiles = [
  // Longest first (seconds alone in the last CI run), so that no long file starts last.
  "test/integration/controllers/reconcile-errors.test.ts", // 128s; private redis-server killed; 1 s back-off cap vs a 30 s wait
  "test/integration/operator/watch-liveness.test.ts", // 121s; its own informers through its own TCP link; 30 s slack over the transport's limits
  "test/integration/controllers/promotion-faults.test.ts", // 92s; private redis-server and TCP link faulted
  "test/integration/controllers/bootstrap-run-kafka-hung.test.ts", // 82s; Kafka reached through its own frozen TCP link
  "test/integration/controllers/promotion-revert.test.ts", // 78s
  "test/integration/controllers/parity-kafka-hung.test.ts", // 68s; Kafka reached through its own frozen TCP link
  "test/integration/controllers/store-drift.test.ts", // 67s; deletes/edits only its own store's keys
  "test/integration/operator/drift.test.ts", // 59s
  "test/integration/controllers/store-data-loss.test.ts", // 50s; deletes only its own store's keys
  "test/integration/operator/embedding-model.test.ts", // 42s; 2-3 of the 16 kwok GPUs
  "test/integration/controllers/promotion-delete.test.ts", // 42s
  "test/integration/controllers/nearline-pipeline.test.ts", // 37s
  "test/integration/nearline/consumer-lag.test.ts", // 36s
  "test/integration/controllers/promotion-workers.test.ts", // 32s
  "test/integration/controllers/pipeline-status-poll.test.ts", // 32s
  "test/integration/nearline/embedding-server-failures.test.ts", // 32s
  "test/integration/controllers/promotion-leader-kills.test.ts", // 31s; its own Lease in its own namespace
  "test/integration/operator/promotion-capacity.test.ts", // 27s
  "test/integration/controllers/promotion-retention.test.ts", // 27s
  "test/integration/operator/upgrade.test.ts", // 25s; real operator processes on its own namespace; waits for the HPA's first status before its snapshots
  "test/integration/kubectl-plugin/abandon-promotion.test.ts", // 24s
  "test/integration/controllers/store-conflict.test.ts", // 24s; two namespaces of its own, one store name of its own
  "test/integration/nearline/metrics-under-retries.test.ts", // 24s; fills its private redis-server only
  "test/integration/controllers/promotion-reuse.test.ts", // 24s
  "test/integration/controllers/promotion-approval-reuse.test.ts", // new; setUpPromotion in its own namespace, as promotion-reuse
  "test/integration/operator/gitops-sync.test.ts", // ~21s alone; its own namespace, a CPU model on kwok nodes
  "test/integration/nearline/topic-changes.test.ts", // 23s; adds partitions to / deletes records of its own topics
  "test/integration/nearline/transactional-producers.test.ts", // 23s
  "test/integration/controllers/promotion.test.ts", // 16s
  "test/integration/controllers/worker-progress-deadline.test.ts", // 16s; its own Deployments' progress deadlines, a 5 s pipeline poll
  "test/integration/bootstrap/redis-restart.test.ts", // 14s
  "test/integration/controllers/bootstrap-run-store-secret.test.ts", // 14s; edits/deletes only its own namespace's Secret and model
  "test/integration/controllers/bootstrap-run.test.ts", // 13s
  "test/integration/controllers/store-switch.test.ts", // 12s
  "test/integration/controllers/promotion-awaiting-faults.test.ts", // 10s; restarts only its own operator, renames its own namespace's Secret key
  "test/integration/operator/restart.test.ts", // 10s
  "test/integration/operator/namespace-deletion.test.ts", // 9s; deletes only its own namespace
  "test/integration/controllers/refused-pods.test.ts", // 5s; a ResourceQuota in its own namespace, a PriorityClass no one creates
  "test/integration/controllers/promotion-flip-restart.test.ts", // 4s
  "test/integration/controllers/worker-config-rollout.test.ts", // 4s; its own namespace and topic, a worker unschedulable by its own request
  "test/integration/controllers/promotion-flip-restart-event.test.ts", // 3s
  "test/integration/controllers/promotion-cluster.test.ts", // 3s; its own keys on the shared Redis Cluster
  "test/integration/controllers/store-switch-run.test.ts", // 3s
  "test/integration/controllers/pipeline-store-url.test.ts", // 2s
  "test/integration/controllers/store-first-pipeline.test.ts", // 2s
  "test/integration/controllers/pipeline-store-cluster.test.ts", // 2s
  "test/integration/controllers/promotion-worker-serving.test.ts", // 2s
];

/**
 * Serial files, for the record (the rule above makes them serial; the heaviest, with why):
 * node-disruptions (creates, cordons and drains nodes; scheduler messages count every node),
 * leader-election (real processes timed against lease deadlines), api-throttling (stop within 14 s),
 * hung-store (drain within 25 s), failing-pods, worker-pod-health, serving-pod-health and
 * testbed/local-nodes/* (the local nodes' allocatable; local-nodes started/stopped per file when not
 * up), serving/* (CPU-bound model serving, overload, back-pressure, connection timing), image (a
 * buildah build), chart, kubectl-jude, crds (cluster-scoped RBAC and CRDs, all-namespace lists),
 * durability (attaches a replica to the shared Redis), silent-connection and cluster-failover
 * (deadlines), quickstart/down (broker-wide topic and group listings), store/*, testbed/*.
 */

/**
 * Which integration files this run takes: JUDE_INTEGRATION_LANE=concurrent the list above, several
 * files at once; =serial every other file, one at a time; unset (a developer running one file or
 * all) every file, one at a time. scripts/test.sh runs the two lanes one after the other.
 */
const lane = process.env.JUDE_INTEGRATION_LANE || undefined;
if (lane !== undefined && lane !== "concurrent" && lane !== "serial")
  throw new Error(`JUDE_INTEGRATION_LANE must be "concurrent" or "serial", not "${lane}"`);
/** Runs the concurrent lane's files in the order listed (longest first), cached durations or not. */
export class ListedOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = concurrentIntegrationFiles.findIndex((listed) => file.moduleId.endsWith(`/${listed}`));
      return index === -1 ? concurrentIntegrationFiles.length : index;
    };
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}
/** Files the concurrent lane runs at once: they mostly wait, so more than the 2 cores. */
const concurrentWorkers = 3;
const integrationFiles =
  lane === "concurrent"
    ? { include: concurrentIntegrationFiles }
    : {
        include: ["test/integration/**/*.test.ts"],
        exclude: lane === "serial" ? concurrentIntegrationFiles : [],
      };
const integrationParallelism =
  lane === "concurrent"
    ? { fileParallelism: true, maxWorkers: concurrentWorkers }
    : { fileParallelism: false };

// Three projects: fast unit tests beside the code, integration tests against the testbed's real
// components, and end-to-end tests of whole flows. The global setups start what a project needs
// through the same testbed code that `npm run testbed` uses.
export default defineConfig({
  test: {
    // The pool's own limit (cores - 1 by default) would cap the concurrent lane at one file.
    ...(lane === "concurrent"
      ? { maxWorkers: concurrentWorkers, sequence: { sequencer: ListedOrderSequencer } }
      : {}),
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "{operator,crds,controllers,plumbing,serving,pipelines,store,cli,bench,scripts,test/testbed,test/docs,test/support}/**/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          ...integrationFiles,
          environment: "node",
          globalSetup: ["test/setup/integration.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          ...integrationParallelism,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/e2e.ts"],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
