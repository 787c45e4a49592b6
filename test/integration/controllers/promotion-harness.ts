// What the promotion integration test plays besides the EmbeddingModel controller (run in-process on
// the testbed's API server; its pods only pretend to run on kwok nodes): the bootstrap shards (vectors
// written to the real Redis store, the version marked complete, the run's status Succeeded), the
// pipeline's reported lag, and the objects a user applies.
import { Registry } from "prom-client";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import {
  connectRedis,
  markVersionComplete,
  openStore,
  registerVersion,
  StoreWriter,
  type Store,
} from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { testImages } from "../operator/operator-harness.ts";
import { startManager } from "./harness.ts";

/** A running EmbeddingModel controller; `parity` is what its parity measurement answers. */
export interface PromotionOperator {
  registry: Registry;
  stop(): Promise<void>;
}

/**
 * Starts the EmbeddingModel controller on `namespace`. The parity gate re-embeds through the
 * candidate's serving pods, which do not run on kwok nodes: `parity` answers for them here (the
 * end-to-end test runs the real measurement).
 */
export function startPromotionOperator(
  namespace: string,
  parity: (version: string) => ParityObservation,
): PromotionOperator {
  let registry = new Registry();
  const stop = startManager(namespace, "promotion-test", (manager) => {
    registry = manager.metrics.registry;
    manager.add(
      embeddingModelController({
        images: testImages,
        concurrency: 2,
        registry,
        measureParity: async (target) => parity(target.version),
      }),
    );
  });
  return { registry, stop };
}

/** The test's own store (name unique per run) on the testbed's Redis. */
export async function openTestStore(name: string): Promise<{ store: Store; close: () => void }> {
  const client = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  const store = await openStore(client, { name, create: true });
  return { store, close: () => client.disconnect() };
}

/** Writes `ids` of entity job into `version` (as shards or workers would), 4-dimensional unit vectors. */
export async function writeVectors(store: Store, version: string, digest: string, ids: readonly string[]) {
  await registerVersion(store, version, { modelDigest: digest, dimension: 4 });
  await new StoreWriter(store).write(
    ids.map((id, index) => ({
      kind: "upsert" as const,
      entity: "job",
      id,
      version,
      eventTimeMs: 1_000 + index,
      offset: index,
      partition: 0,
      vector: [0.5, 0.5, 0.5, 0.5],
      modelDigest: digest,
      contentHash: `h-${id}`,
    })),
  );
}

/** Finishes `version`'s bootstrap: the store marks it complete and its run reports Succeeded. */
export async function finishBootstrap(store: Store, namespace: string, runName: string, version: string) {
  await markVersionComplete(store, version);
  await kubectl([
    "patch",
    "-n",
    namespace,
    `bootstraprun/${runName}`,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({
      status: {
        phase: "Succeeded",
        progress: { total: 10, processed: 10, percent: 100 },
        watermarks: {
          capturedTime: "2026-12-02T00:00:00Z",
          topic: "jobs",
          partitions: [{ partition: 0, offset: 10 }],
        },
      },
    }),
  ]);
}

/** Reports the pipeline's workers of each version caught up (what the pipeline controller would write). */
export async function reportCaughtUp(namespace: string, pipeline: string, versions: string[]) {
  const status = { versions: versions.map((version) => ({ version, lag: 0, readyReplicas: 1 })) };
  await kubectl([
    "patch",
    "-n",
    namespace,
    `nearlinepipeline/${pipeline}`,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}
