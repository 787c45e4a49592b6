// An older version the operator still serves renders from its record, which names the TLS Secret it
// was promoted with; today's spec names another. That Secret deleted (during the promotion, and during
// the bake after the cutover) leaves the older version's running pods serving, but one that stops
// cannot start again: the model says so (its Ready message and one Warning Event naming the version,
// the Secret and the consequence), the promotion goes on untouched, and the message goes away once
// the Secret is back. Against the testbed's real API server, the controller in-process, kwok nodes.
import { describe, expect, it } from "vitest";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  listObjects,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";

const namespace = `oldsecret-em-${process.pid}`;
const name = "minilm";
const said =
  "version v1's pods mount Secret tls-v1 (spec.serving.tls.secretName in the version's record), which does not exist: its running pods keep serving, but a pod that stops cannot start again until the Secret is restored";

type Version = { version: string; phase: string; readyReplicas?: number };
const versionOf = (model: Json, version: string) =>
  (((model.status as Json | undefined)?.versions ?? []) as Version[]).find(
    (entry) => entry.version === version,
  );

const createTlsSecret = (secret: string) =>
  kubectl([
    "create",
    "secret",
    "generic",
    secret,
    "-n",
    namespace,
    `--from-literal=tls.crt=certificate of ${secret}`,
    `--from-literal=tls.key=key of ${secret}`,
  ]);

describe("a TLS Secret named by an older served version's record, deleted", () => {
  const operator = useInProcessOperator(namespace);

  const reconciles = async () =>
    (
      (await operator().manager.metrics.registry.getSingleMetric("jude_operator_reconciles_total")?.get())
        ?.values ?? []
    ).reduce((sum, value) => sum + value.value, 0);
  const olderVersionEvents = async () =>
    (await listObjects("events", namespace, "")).filter(
      (event) =>
        (event.involvedObject as Json).name === name &&
        event.type === "Warning" &&
        event.reason === "SecretNotFound" &&
        String(event.message).includes("tls-v1"),
    );

  it("during the promotion: said once, the promotion untouched, gone when the Secret is back", async () => {
    await createTlsSecret("tls-v1");
    await createTlsSecret("tls-v2");
    const model = cpuModel(namespace, name, { replicas: 1, tls: { secretName: "tls-v1" } });
    await apply([model]);
    await waitForModel((object) => condition(object, "Ready")?.status === "True", 120_000);

    const spec = model.spec as Json;
    spec.version = "v2";
    spec.model = { uri: "file:///opt/models/minilm-v2/model.onnx", dimensions: 384 };
    spec.serving = { replicas: 1, tls: { secretName: "tls-v2" } };
    spec.promotion = { cutover: "Manual" };
    await apply([model]);
    const awaiting = await waitForModel(
      (object) => condition(object, "Ready")?.reason === "AwaitingApproval",
    );
    expect(condition(awaiting, "Ready")?.message).not.toContain("tls-v1");

    const v1Template = async () =>
      ((await getObject("deployment/minilm-v1", namespace))?.spec as Json).template as Json;
    const templateBefore = await v1Template();
    await kubectl(["delete", "secret", "tls-v1", "-n", namespace]);
    const told = await waitForModel((object) => condition(object, "Ready")?.message.includes(said) === true);
    // Not held back: v2 still waits for its approval only, v1 still serves the readers.
    expect(condition(told, "Ready")).toMatchObject({ status: "False", reason: "AwaitingApproval" });
    expect(condition(told, "Stalled")?.status).toBe("False");
    expect(versionOf(told, "v2")?.phase).toBe("AwaitingCutover");
    expect(versionOf(told, "v1")).toMatchObject({ phase: "Active", readyReplicas: 1 });
    expect((told.status as Json).activeVersion).toBe("v1");
    await waitFor(
      "a Warning Event naming v1 and tls-v1",
      async () => (await olderVersionEvents()).length > 0,
      {
        timeoutMs: 30_000,
      },
    );
    // Reconciles go on (the promotion's poll) and find it again each time: no Event of it again.
    const from = await reconciles();
    await waitFor("three more reconciles", async () => (await reconciles()) >= from + 3, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // v1's pods are not rolled: a new one could not start without its Secret (it stamped the template
    // `tls-v1@absent` before, and the rollout left a pod that cannot start beside the one serving).
    expect(await v1Template()).toEqual(templateBefore);
    const events = await olderVersionEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ message: said });
    expect(events[0]?.count ?? 1).toBe(1);
    expect(condition(await getModel(), "Ready")?.message).toContain(said);

    // Back: no edit of the model, the operator's poll finds it and the message goes.
    await createTlsSecret("tls-v1");
    const recovered = await waitForModel(
      (object) => !(condition(object, "Ready")?.message ?? "tls-v1").includes("tls-v1"),
      60_000,
    );
    expect(condition(recovered, "Ready")?.reason).toBe("AwaitingApproval");
  });

  it("during the bake after the cutover: said beside Ready=True", async () => {
    await kubectl([
      "patch",
      "-n",
      namespace,
      `embeddingmodel/${name}`,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { promotion: { approvedVersion: "v2" } } }),
    ]);
    await waitForModel(
      (object) =>
        (object.status as Json).activeVersion === "v2" && versionOf(object, "v1")?.phase === "Draining",
    );
    await kubectl(["delete", "secret", "tls-v1", "-n", namespace]);
    const told = await waitForModel((object) => condition(object, "Ready")?.message.includes(said) === true);
    expect(condition(told, "Ready")).toMatchObject({ status: "True", reason: "Promoted" });
    expect(versionOf(told, "v1")?.phase).toBe("Draining");
  });
});

async function getModel(): Promise<Json> {
  return (await getObject(`embeddingmodel/${name}`, namespace))!;
}

async function waitForModel(predicate: (model: Json) => boolean, timeoutMs = 90_000): Promise<Json> {
  let found: Json | undefined;
  await waitFor(
    `embeddingmodel ${name} to reach the expected state`,
    async () => {
      found = await getObject(`embeddingmodel/${name}`, namespace);
      return found !== undefined && predicate(found);
    },
    { timeoutMs, intervalMs: 300 },
  );
  return found as Json;
}
