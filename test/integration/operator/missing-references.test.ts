// What the serving pods reference and the operator does not create — a claim holding the model, the
// bearer-token Secret — missing, against the testbed's real API server with the controllers in-process.
// A candidate version waits for it (Reconciling, Ready False naming the object, a Warning Event; not
// Failed while the operator keeps looking), the live version keeps serving readers, and the promotion
// goes on by itself once the object is created. A Secret of the live version deleted leaves its
// running pods Active (Stalled, since pods started later cannot start), and clears when it is back.
import { afterAll, describe, expect, it } from "vitest";
import { kubectl } from "../../support/kubectl.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  listObjects,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";
import { waitFor } from "../../testbed/wait.ts";

const namespace = `missingref-em-${process.pid}`;
const name = "minilm";
const claimName = "missingref-models";

// A claim bound to a pre-made volume (the testbed has no provisioner), so the pods that mount it can
// be scheduled.
const volume: Json = {
  apiVersion: "v1",
  kind: "PersistentVolume",
  metadata: { name: `${namespace}-models` },
  spec: {
    capacity: { storage: "1Gi" },
    accessModes: ["ReadOnlyMany"],
    storageClassName: "",
    persistentVolumeReclaimPolicy: "Delete",
    hostPath: { path: "/var/lib/jude-test-models" },
    claimRef: { namespace, name: claimName },
  },
};
const claim: Json = {
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: claimName, namespace },
  spec: {
    accessModes: ["ReadOnlyMany"],
    storageClassName: "",
    volumeName: `${namespace}-models`,
    resources: { requests: { storage: "1Gi" } },
  },
};

type Version = { version: string; phase: string; readyReplicas?: number };
const versions = (model: Json) => ((model.status as Json | undefined)?.versions ?? []) as Version[];
const versionOf = (model: Json, version: string) =>
  versions(model).find((entry) => entry.version === version);

describe("an EmbeddingModel whose referenced objects are missing", () => {
  useInProcessOperator(namespace);
  afterAll(async () => {
    await kubectl(["delete", "pv", `${namespace}-models`, "--wait=false", "--ignore-not-found"]);
  });

  it("a candidate whose model claim is missing waits, v1 serving, and is promoted once the claim exists", async () => {
    await kubectl(["create", "secret", "generic", "token", "-n", namespace, "--from-literal=token=s3cret"]);
    const model = cpuModel(namespace, name, {
      replicas: 1,
      auth: { tokenSecretRef: { name: "token", key: "token" } },
    });
    await apply([model]);
    await waitForModel((object) => condition(object, "Ready")?.status === "True", 120_000);

    const spec = model.spec as Json;
    spec.version = "v2";
    spec.model = { uri: `pvc://${claimName}/v2/model.onnx`, dimensions: 384 };
    await apply([model]);
    const waiting = await waitForModel(
      (object) =>
        condition(object, "Ready")?.reason === "PersistentVolumeClaimNotFound" &&
        versionOf(object, "v2") !== undefined,
    );
    expect(condition(waiting, "Ready")?.status).toBe("False");
    expect(condition(waiting, "Reconciling")?.status).toBe("True");
    expect(condition(waiting, "Stalled")?.status).toBe("False");
    expect(condition(waiting, "Ready")?.message).toContain(
      `PersistentVolumeClaim ${claimName} (spec.model.uri) does not exist`,
    );
    // Not Failed while the operator keeps looking: nothing for the user to re-apply.
    expect(versionOf(waiting, "v2")?.phase).toBe("Deploying");
    expect(versionOf(waiting, "v1")).toMatchObject({ phase: "Active", readyReplicas: 1 });
    expect((waiting.status as Json).activeVersion).toBe("v1");
    expect(((await getObject(`service/${name}`, namespace))?.spec as Json).selector).toMatchObject({
      "jude.dev/version": "v1",
    });
    expect(await getObject(`deployment/${name}-v1`, namespace)).toBeDefined();
    await waitFor(
      "a Warning Event naming the missing claim",
      async () =>
        (await listObjects("events", namespace, "")).some(
          (event) =>
            (event.involvedObject as Json).name === name &&
            event.type === "Warning" &&
            event.reason === "PersistentVolumeClaimNotFound" &&
            String(event.message).includes(claimName),
        ),
      { timeoutMs: 30_000 },
    );

    // Created: no edit of the model, the operator's poll finds it and the promotion goes on.
    await apply([volume, claim]);
    const promoted = await waitForModel(
      (object) =>
        condition(object, "Ready")?.status === "True" && (object.status as Json).activeVersion === "v2",
      120_000,
    );
    expect(versionOf(promoted, "v2")?.phase).toBe("Active");
  });

  it("the live version's token Secret deleted: its pods stay Active and the model recovers once it is back", async () => {
    // Secrets are not watched: the model's resync reads it again (this model has no store; before the
    // resync covered such models, one at rest, nothing else waking it, never noticed the deletion).
    await kubectl(["delete", "secret", "token", "-n", namespace]);
    const stalled = await waitForModel((object) => condition(object, "Stalled")?.reason === "SecretNotFound");
    expect(condition(stalled, "Stalled")?.message).toContain(
      "Secret token (spec.serving.auth.tokenSecretRef) does not exist",
    );
    expect(versionOf(stalled, "v2")).toMatchObject({ phase: "Active", readyReplicas: 1 });
    expect((stalled.status as Json).activeVersion).toBe("v2");
    expect(await getObject(`deployment/${name}-v2`, namespace)).toBeDefined();

    await kubectl(["create", "secret", "generic", "token", "-n", namespace, "--from-literal=token=s3cret"]);
    await waitForModel((object) => condition(object, "Ready")?.status === "True", 60_000);
  });
});

async function waitForModel(predicate: (model: Json) => boolean, timeoutMs = 90_000): Promise<Json> {
  let found: Json | undefined;
  try {
    await waitFor(
      `embeddingmodel ${name} to reach the expected state`,
      async () => {
        found = await getObject(`embeddingmodel/${name}`, namespace);
        return found !== undefined && predicate(found);
      },
      { timeoutMs, intervalMs: 300 },
    );
  } catch (error) {
    // The state it was last seen in names what happened instead (a CI run shows only this message).
    const status = found?.status as Json | undefined;
    const seen = JSON.stringify({
      conditions: ((status?.conditions ?? []) as Json[]).map(({ type, status, reason, message }) => ({
        type,
        status,
        reason,
        message,
      })),
      activeVersion: status?.activeVersion,
      versions: status?.versions,
    });
    throw new Error(`${(error as Error).message}; last seen: ${found === undefined ? "none" : seen}`, {
      cause: error,
    });
  }
  return found as Json;
}
