// During a promotion a pipeline runs workers for the older version as well as the new one, the older
// one's rendered from its version record, which names the token Secret (and serving TLS Secret) its
// servers were promoted with; today's spec may name another or none. That Secret missing leaves the
// older version's running workers working, but a worker that stops cannot start again (a missing Secret
// volume holds it in ContainerCreating): the pipeline says so (its conditions' message and one Warning
// Event naming the version, the Secret and the consequence), the new version's workers are applied as
// before, and the words go once the Secret is back (Secrets are not watched: the pipeline's poll finds
// it). Nor are the older version's workers rolled for it: a TLS Secret they read at start, deleted,
// keeps its stamp in their template (stamped absent, they rolled into a worker that cannot start).
// NearlinePipeline controller in-process against the testbed's real API server, kwok nodes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddingModel } from "../../../crds/index.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  applyObjects,
  markModelObserved,
  minilmVersionRecord,
  startControllers,
  waitForObject,
  type ControllersHarness,
  type WithConditions as Pipeline,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Event = {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string };
};

const said =
  "version minilm-v1's workers mount Secret token-v1 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored";

const tokenV1 = { tokenSecretRef: { name: "token-v1", key: "token" } };

const ready = (object: Pipeline) => object.status?.conditions?.find((entry) => entry.type === "Ready");

describe("an older version's Secret, named by its record, missing", () => {
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

  /** Waits until the controllers reconciled `count` more times from now (the pipeline's poll). */
  const moreReconciles = async (count: number, description: string) => {
    const from = await reconciles();
    await waitFor(description, async () => (await reconciles()) >= from + count, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
  };

  /** v1's worker Deployment's pod template. */
  const v1Template = async () =>
    (
      await kubectlJson<{ spec: { template: Record<string, unknown> } }>([
        "get",
        "-n",
        harness.namespace,
        "deployment/jobs-minilm-v1-nearline",
      ])
    ).spec.template;

  /** The Secret versions a pod template is stamped with. */
  const stamp = (of: Record<string, unknown>) =>
    (of.metadata as { annotations?: Record<string, string> }).annotations?.["jude.dev/secret-versions"];

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

  /** What the EmbeddingModel controller records of `version` while it promotes v2, served as `serving`. */
  const record = (version: string, serving?: (spec: EmbeddingModel["spec"]["serving"]) => object) =>
    minilmVersionRecord(harness.namespace, version, {
      promotionStartTime: "2026-12-02T00:00:00Z",
      serving,
    });

  it("is said on the pipeline and in one Warning Event, both versions' workers applied, gone once the Secret is back", async () => {
    const ns = harness.namespace;
    // v1, promoted with a token Secret today's spec no longer names, and v2; the workers of both run.
    await applyObjects(ns, [
      await record("minilm-v1", (serving) => ({ ...serving, auth: tokenV1 })),
      await record("minilm-v2"),
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
    await moreReconciles(3, "three more reconciles");
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
  it("keeps v1's workers running when the serving TLS Secret its record names is deleted: the template keeps its stamp", async () => {
    const ns = harness.namespace;
    // v1 was promoted serving over TLS with tls-v1, whose ca.crt its workers verify the servers with
    // (read at start: stamped in the template); today's spec serves without TLS.
    await kubectl(["create", "secret", "generic", "tls-v1", "-n", ns, "--from-literal=ca.crt=ca-v1"]);
    await applyObjects(ns, [
      await record("minilm-v1", (serving) => ({ ...serving, auth: tokenV1, tls: { secretName: "tls-v1" } })),
    ]);
    await waitFor(
      "v1's worker template stamped with tls-v1's ca.crt",
      async () => stamp(await v1Template())?.includes("tls-v1@sha256:") === true,
      { timeoutMs: 60_000 },
    );
    const before = await v1Template();

    await kubectl(["delete", "secret", "tls-v1", "-n", ns]);
    const missing =
      "version minilm-v1's workers mount Secret tls-v1 (spec.serving.tls.secretName in the version's record), which does not exist";
    await waitForObject<Pipeline>(
      ns,
      "nearlinepipeline/jobs",
      "the pipeline saying v1's TLS Secret is missing",
      (object) => ready(object)?.message.includes(missing) === true,
    );
    // Said, and v1's workers not rolled: a new worker could not start without the Secret's volume (the
    // template was stamped `tls-v1@absent`, and the rollout left a pod stuck beside those working).
    await moreReconciles(2, "two more reconciles");
    expect(await v1Template()).toEqual(before);
  });

  // Continues from the deletion above. The stamp kept is the running one, so the Secret restored as it
  // was rolls nothing, and restored with another ca.crt rolls the workers onto it (the pipeline's poll
  // finds it: Secrets are not watched).
  it("rolls v1's workers onto the TLS Secret when it comes back changed, not when it comes back the same", async () => {
    const ns = harness.namespace;
    const before = await v1Template();
    expect(stamp(before)).toContain("tls-v1@sha256:");

    await kubectl(["create", "secret", "generic", "tls-v1", "-n", ns, "--from-literal=ca.crt=ca-v1"]);
    await waitForObject<Pipeline>(
      ns,
      "nearlinepipeline/jobs",
      "the words gone with tls-v1 back",
      (object) => ready(object) !== undefined && !ready(object)!.message.includes("tls-v1"),
    );
    await moreReconciles(2, "two more reconciles");
    expect(await v1Template()).toEqual(before);

    await kubectl(["delete", "secret", "tls-v1", "-n", ns]);
    await kubectl(["create", "secret", "generic", "tls-v1", "-n", ns, "--from-literal=ca.crt=ca-v1-renewed"]);
    await waitFor(
      "v1's worker template stamped with the renewed ca.crt",
      async () => {
        const now = stamp(await v1Template());
        return now !== undefined && now !== stamp(before) && now.includes("tls-v1@sha256:");
      },
      { timeoutMs: 60_000 },
    );
  });
});
