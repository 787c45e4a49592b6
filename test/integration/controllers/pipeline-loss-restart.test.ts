// Records a pipeline's workers lose while the operator is down are counted when it is back: the status
// carries, beside the loss totals, each worker process's counters as last read (lossReads, which the
// CRD schema must keep: the API server prunes a field it does not know), and a new operator process
// (a restart, or a new leader) counts from them what each process reports beyond its last read. A
// worker that restarted meanwhile and lost fewer records than before is counted in full, and told once.
// kwok's pretend worker pods answer nothing: their figures come from a stand-in probe.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nearlinePipelineController } from "../../../controllers/nearline-pipeline/controller.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";
import { applyObjects, markModelObserved, startManager } from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

const namespace = `pipeline-loss-restart-${process.pid}`;
const pipelinePollMs = 2_000;

/** The one worker's process as the probe reports it: when it started, records lost since. */
let worker = { startedSeconds: 100, lost: 5 };
/** Reads so far: every read reports more events consumed, so a new poll shows in the status. */
let reads = 0;

/** Starts an operator process (fresh: it remembers nothing) running the pipeline controller. */
const startOperator = () =>
  startManager(namespace, "pipeline-loss-restart", (manager) =>
    manager.add(
      nearlinePipelineController(
        { images: testImages, concurrency: 1, pipelinePollMs },
        {
          probe: async () => {
            reads += 1;
            return {
              processStartSeconds: worker.startedSeconds,
              counts: {
                consumed: reads,
                embedded: reads,
                skippedUnchanged: 0,
                deleted: 0,
                deadLettered: 0,
                sourceRecordsLost: worker.lost,
              },
              lag: new Map([[0, 0]]),
            };
          },
        },
      ),
    ),
  );

interface VersionStatus {
  processed?: number;
  sourceRecordsLost?: number;
  lossReads?: { podUID: string; processStartSeconds?: number; sourceRecordsLost?: number }[];
}

async function versionStatus(): Promise<VersionStatus | undefined> {
  const object = await kubectlJson<{ status?: { versions?: VersionStatus[] } }>([
    "get",
    "-n",
    namespace,
    "nearlinepipeline/jobs",
  ]);
  return object.status?.versions?.[0];
}

/** The pipeline's SourceRecordsLost Warnings: message and count. */
async function lossWarnings(): Promise<[string, number][]> {
  const events = await kubectlJson<{ items: { reason: string; message: string; count?: number }[] }>([
    "get",
    "events",
    "-n",
    namespace,
    "--field-selector",
    "involvedObject.kind=NearlinePipeline,reason=SourceRecordsLost",
  ]);
  return events.items.map((event): [string, number] => [event.message, event.count ?? 1]).sort();
}

describe("a pipeline's records lost while the operator was down", () => {
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    stop = startOperator();
    await applyObjects(namespace, [
      storeSecret(),
      model(),
      pipeline("jobs", "jobs-changelog-loss-restart", (spec) => {
        spec.workers!.replicas = 1;
      }),
    ]);
    // No model controller runs here: say the model was looked at, or the pipeline waits for it.
    await markModelObserved(namespace, "jude-minilm");
  });

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(namespace);
  });

  it("are counted by the next operator process and told once", { timeout: 180_000 }, async () => {
    let podUID = "";
    await waitFor(
      "the worker pod",
      async () => {
        const pods = await kubectlJson<{ items: { metadata: { uid: string } }[] }>([
          "get",
          "pods",
          "-n",
          namespace,
          "-l",
          "jude.dev/pipeline=jobs",
        ]);
        podUID = pods.items.length === 1 ? pods.items[0]!.metadata.uid : "";
        return podUID !== "";
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await waitFor(
      "the 5 records lost in the status",
      async () => (await versionStatus())?.sourceRecordsLost === 5,
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    // The API server kept the last read beside the total.
    expect((await versionStatus())?.lossReads).toEqual([
      { podUID, processStartSeconds: 100, sourceRecordsLost: 5 },
    ]);
    await stop!();
    stop = undefined;
    // While no operator runs, the worker restarts and loses 3 records: its counter is lower than the
    // status's total, so the workers' sum alone would show nothing new.
    worker = { startedSeconds: 200, lost: 3 };
    stop = startOperator();
    await waitFor(
      "the 3 records lost meanwhile in the status",
      async () => (await versionStatus())?.sourceRecordsLost === 8,
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    // Two more polls read the same counters: nothing more to count or tell.
    for (let poll = 0; poll < 2; poll += 1) {
      const shown = (await versionStatus())?.processed ?? 0;
      await waitFor("the next poll", async () => ((await versionStatus())?.processed ?? 0) > shown, {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    }
    expect(await versionStatus()).toMatchObject({
      sourceRecordsLost: 8,
      lossReads: [{ podUID, processStartSeconds: 200, sourceRecordsLost: 3 }],
    });
    await waitFor("both Warnings recorded", async () => (await lossWarnings()).length >= 2);
    expect(await lossWarnings()).toEqual([
      [
        "version minilm-v1: 3 source records were deleted by retention before its workers read them (8 in all); their changes are not in the store",
        1,
      ],
      [
        "version minilm-v1: 5 source records were deleted by retention before its workers read them (5 in all); their changes are not in the store",
        1,
      ],
    ]);
  });
});
