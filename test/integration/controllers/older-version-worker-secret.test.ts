// During a promotion a pipeline runs workers for the older version as well as the new one, the older
// one's rendered from its version record, which names the token Secret (and serving TLS Secret) its
// servers were promoted with; today's spec may name another or none. That Secret missing leaves the
// older version's running workers working, but a worker that stops cannot start again (a missing Secret
// volume holds it in ContainerCreating): the pipeline says so (its conditions' message and one Warning
// Event naming the version, the Secret and the consequence), the new version's workers are applied as
// before, and the words go once the Secret is back (Secrets are not watched: the pipeline's poll finds
// it). NearlinePipeline controller in-process against the testbed's real API server, kwok nodes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { parseEmbeddingModel } from "../../../crds/index.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  applyObjects,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Condition = { type: string; status: string; reason: string; message: string };
type Pipeline = { status?: { conditions?: Condition[] } };
type Event = {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string };
};

const said =
  "version minilm-v1's workers mount Secret token-v1 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored";

const ready = (object: Pipeline) => object.status?.conditions?.find((entry) => entry.type === "Ready");

describe("an older version's token Secret, named by its record, missing", () => {
  let harness: ControllersHarness;

  beforeAll(async () => {
    // A 5 s pipeline poll (--pipeline-poll-seconds; 30 s in production): Secrets are not watched.
    harness = await startControllers("older-worker-secret", { settings: { pipelinePollMs: 5_000 } });
    const topic = uniqueTopic("older-worker-secret");
    await createTopics([topic], 1);
    const promoted = model();
    (promoted.spec as { version: string }).version = "minilm-v2";
    await applyObjects(harness.namespace, [storeSecret(), promoted, pipeline("jobs", topic)]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  const reconciles = async () =>
    ((await harness.registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values ?? []).reduce(
      (sum, value) => sum + value.value,
      0,
    );

  const warnings = async () =>
    (
      await kubectlJson<{ items: Event[] }>(["get", "events", "-n", harness.namespace, "-o", "json"])
    ).items.filter(
      (event) =>
        event.involvedObject.kind === "NearlinePipeline" &&
        event.involvedObject.name === "jobs" &&
        event.type === "Warning" &&
        event.reason === "SecretNotFound" &&
        event.message.includes("token-v1"),
    );

  it("is said on the pipeline and in one Warning Event, both versions' workers applied, gone once the Secret is back", async () => {
    const ns = harness.namespace;
    const stored = parseEmbeddingModel(await kubectlJson(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    // What the EmbeddingModel controller records while it promotes v2: v1, promoted with a token
    // Secret today's spec no longer names, and v2; the workers of both run.
    const record = (version: string, serving: typeof stored.spec.serving) => {
      const object = desiredVersionRecord(stored, {
        version,
        spec: { model: stored.spec.model, prompts: stored.spec.prompts, serving },
        promotionStartTime: "2026-12-02T00:00:00Z",
        workers: true,
      });
      return { ...object, metadata: { ...object.metadata, namespace: undefined } };
    };
    await applyObjects(ns, [
      record("minilm-v1", {
        ...stored.spec.serving,
        auth: { tokenSecretRef: { name: "token-v1", key: "token" } },
      }),
      record("minilm-v2", stored.spec.serving),
    ]);

    const told = await waitForObject<Pipeline>(
      ns,
      "nearlinepipeline/jobs",
      "the pipeline saying v1's token Secret is missing",
      (object) => ready(object)?.message.includes(said) === true,
    );
    // Not held back: the pipeline is not Stalled for it, and both versions' workers exist.
    expect(told.status?.conditions?.find((entry) => entry.type === "Stalled")?.status).toBe("False");
    for (const version of ["minilm-v1", "minilm-v2"])
      await kubectl(["get", "-n", ns, `deployment/jobs-${version}-nearline`]);
    await waitFor("a Warning Event naming v1 and token-v1", async () => (await warnings()).length > 0, {
      timeoutMs: 30_000,
    });
    // Reconciles go on (the poll) and find it again each time: no Event of it again.
    const from = await reconciles();
    await waitFor("three more reconciles", async () => (await reconciles()) >= from + 3, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const events = await warnings();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ message: said });
    expect(events[0]?.count ?? 1).toBe(1);

    // Back: nothing else changes, the pipeline's poll finds it and the words go.
    await kubectl(["create", "secret", "generic", "token-v1", "-n", ns, "--from-literal=token=t"]);
    await waitForObject<Pipeline>(
      ns,
      "nearlinepipeline/jobs",
      "the words gone with the Secret back",
      (object) => ready(object) !== undefined && !ready(object)!.message.includes("token-v1"),
    );
  });
});
