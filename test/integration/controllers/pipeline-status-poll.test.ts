// A pipeline whose workers carry traffic: their figures (events consumed, embedded, lag) change between
// any two reads. The controller writes them into the status every poll (30 s in production, 8 s here
// through --pipeline-poll-seconds), and that write must not wake the controller again: it would read
// fresh figures, write again, and loop as fast as a reconcile runs, for every busy pipeline. kwok's pretend worker pods answer nothing, so the workers' figures
// come from a stand-in probe that counts up on every read, as a busy worker's /readyz does. Its
// workers also report records lost to retention and a store replay, once: the status carries them
// (the CRD schema keeps them) and one Warning each says so, not one per poll.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nearlinePipelineController } from "../../../controllers/nearline-pipeline/controller.ts";
import type { Manager } from "../../../operator/runtime/manager.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";
import { applyObjects, conditionOf, markModelObserved, startManager } from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

const namespace = `pipeline-poll-${process.pid}`;
/** The controller's poll period here. */
const pipelinePollMs = 8_000;
/** How long the test watches for reconciles it did not cause: shorter than one poll period. */
const quietWindowMs = 4_000;

/** The events processed that the pipeline's status shows for its version. */
async function processed(): Promise<number> {
  const object = await kubectlJson<{ status?: { versions?: { processed?: number }[] } }>([
    "get",
    "-n",
    namespace,
    "nearlinepipeline/jobs",
  ]);
  return object.status?.versions?.[0]?.processed ?? 0;
}

/** The sum of a metric's series for one controller (0 when absent). */
async function metricSum(manager: Manager, name: string, controller: string): Promise<number> {
  const metric = await manager.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((value) => value.labels.controller === controller)
    .reduce((sum, value) => sum + value.value, 0);
}

describe("a busy pipeline's status", () => {
  let manager: Manager;
  let stop: () => Promise<void>;
  let reads = 0;
  let lossyPod: string | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    stop = startManager(namespace, "pipeline-poll", (started) => {
      manager = started;
      // The controller as the operator registers it; only the reads of the workers' figures differ.
      started.add(
        nearlinePipelineController(
          { images: testImages, concurrency: 2, pipelinePollMs },
          {
            probe: async (pod) => {
              reads += 1;
              // One worker (of the two) lost records, whichever the first read was of.
              lossyPod ??= pod.metadata?.name;
              const lost = pod.metadata?.name === lossyPod;
              const consumed = reads * 100;
              return {
                counts: {
                  consumed,
                  embedded: consumed,
                  skippedUnchanged: 0,
                  deleted: 0,
                  deadLettered: 0,
                  ...(lost
                    ? { sourceRecordsLost: 3, storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 } }
                    : {}),
                },
                lag: new Map([[0, reads % 7]]),
              };
            },
          },
        ),
      );
    });
    await applyObjects(namespace, [storeSecret(), model(), pipeline("jobs", "jobs-changelog-poll")]);
    // No model controller runs here: say the model was looked at, or the pipeline waits for it.
    await markModelObserved(namespace, "jude-minilm");
  });

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(namespace);
  });

  it("is refreshed at the poll, not in a loop of its own writes", { timeout: 240_000 }, async () => {
    await waitFor(
      "the pipeline Ready with its workers' figures",
      async () => {
        const object = await kubectlJson<{ status?: { versions?: { processed?: number }[] } }>([
          "get",
          "-n",
          namespace,
          "nearlinepipeline/jobs",
        ]);
        return (
          conditionOf(object, "Ready")?.status === "True" &&
          (object.status?.versions?.[0]?.processed ?? 0) > 0
        );
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const before = await metricSum(manager, "jude_operator_reconciles_total", "nearline-pipeline");
    // Nothing to await: the test is that (almost) nothing happens. Within 4 s the 8 s poll may come
    // once; a pipeline woken by its own status writes reconciles many times a second.
    await new Promise((resolve) => setTimeout(resolve, quietWindowMs));
    const reconciles =
      (await metricSum(manager, "jude_operator_reconciles_total", "nearline-pipeline")) - before;
    expect(reconciles).toBeLessThanOrEqual(2);
    // Still refreshed: the next poll shows newer figures.
    const shown = await processed();
    await waitFor("newer figures at the next poll", async () => (await processed()) > shown, {
      timeoutMs: 60_000,
      intervalMs: 1_000,
    });
  });

  it(
    "shows records lost to retention and a store replay, each warned of once over many polls",
    { timeout: 120_000 },
    async () => {
      const version = async () =>
        (
          await kubectlJson<{ status?: { versions?: Record<string, unknown>[] } }>([
            "get",
            "-n",
            namespace,
            "nearlinepipeline/jobs",
          ])
        ).status?.versions?.[0];
      await waitFor("the losses in the status", async () => (await version())?.sourceRecordsLost === 3, {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      expect(await version()).toMatchObject({ storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 } });
      // Two more polls read the same totals.
      for (let poll = 0; poll < 2; poll += 1) {
        const shown = await processed();
        await waitFor("the next poll", async () => (await processed()) > shown, {
          timeoutMs: 60_000,
          intervalMs: 1_000,
        });
      }
      const warnings = await kubectlJson<{ items: { reason: string; count?: number; series?: unknown }[] }>([
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.kind=NearlinePipeline,type=Warning",
      ]);
      const losses = warnings.items.filter((event) =>
        ["SourceRecordsLost", "StoreReplayed"].includes(event.reason),
      );
      expect(losses.map((event) => [event.reason, event.count ?? 1]).sort()).toEqual([
        ["SourceRecordsLost", 1],
        ["StoreReplayed", 1],
      ]);
    },
  );
});
