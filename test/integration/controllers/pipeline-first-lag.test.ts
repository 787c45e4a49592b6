// A new version's workers turn ready a moment before they report their first lag figure (a worker
// reports it once it has read its partitions' end offsets), and a promotion's CaughtUp gate waits on
// that figure. The controller reads the figures again within 2 s while ready workers owe it, instead of
// at the next poll (30 s by default; 60 s here), so CaughtUp turns True long before a poll could come.
// kwok's pretend worker pods answer nothing: a stand-in probe reports no lag until the test says so.
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
import { applyObjects, conditionOf, markModelObserved, startManager } from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

const namespace = `pipeline-first-lag-${process.pid}`;
/** The controller's poll period here: longer than the test waits for CaughtUp. */
const pipelinePollMs = 60_000;

describe("a pipeline whose ready workers have not reported their lag yet", () => {
  let stop: () => Promise<void>;
  /** Set once the test has seen the workers awaited: from then on they report lag 0. */
  let lagKnown = false;
  let readsWithLag = 0;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    stop = startManager(namespace, "pipeline-first-lag", (started) => {
      started.add(
        nearlinePipelineController(
          { images: testImages, concurrency: 2, pipelinePollMs },
          {
            probe: async () => {
              if (!lagKnown) return {};
              readsWithLag += 1;
              return { lag: new Map([[0, 0]]) };
            },
          },
        ),
      );
    });
    await applyObjects(namespace, [storeSecret(), model(), pipeline("jobs", "jobs-changelog-first-lag")]);
    // No model controller runs here: say the model was looked at, or the pipeline waits for it.
    await markModelObserved(namespace, "jude-minilm");
  });

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(namespace);
  });

  it(
    "reads the figures again without waiting for the poll, and turns CaughtUp",
    { timeout: 240_000 },
    async () => {
      const caughtUp = async () =>
        conditionOf(
          await kubectlJson<Record<string, unknown>>(["get", "-n", namespace, "nearlinepipeline/jobs"]),
          "CaughtUp",
        );
      await waitFor(
        "the ready workers awaited (CaughtUp Unknown, WaitingForWorkers)",
        async () => {
          const condition = await caughtUp();
          return (
            condition?.reason === "WaitingForWorkers" &&
            /lag figure from its \d+ ready worker/.test(condition.message ?? "")
          );
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      const awaited = await caughtUp();
      expect(awaited?.message).toContain(
        "(read every 2 s for a minute after they turn ready, then every 60 s)",
      );
      lagKnown = true;
      // Well within one 60 s poll: on the poll alone, the first figure would show a minute later.
      await waitFor(
        "CaughtUp True from the first lag figure",
        async () => (await caughtUp())?.status === "True",
        {
          timeoutMs: 30_000,
          intervalMs: 250,
        },
      );
      expect(readsWithLag).toBeGreaterThan(0);
    },
  );
});
