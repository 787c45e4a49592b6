// The EmbeddingModel controller against the testbed's real API server, scheduler, controller-manager
// (ReplicaSets, HPA, garbage collector) and kwok GPU nodes, in a namespace that enforces the restricted
// Pod Security Standard: what it renders is admitted, scheduled on GPU nodes and turns the model Ready;
// scaling and config changes roll out; a missing Secret is waited for until created; deletion collects all.
import { configMapNameOf, type MountingWorkload } from "../../support/config-maps.ts";
import { afterAll, describe, expect, it } from "vitest";
import { desiredVersionObjects } from "../../../controllers/embedding-model/version-objects.ts";
import { servingTlsFiles } from "../../../controllers/embedding-model/serving-config.ts";
import { annotationKeys } from "../../../controllers/shared/labels.ts";
import { secretStampsOf } from "../../../controllers/shared/secret-wiring.ts";
import { parseEmbeddingModel } from "../../../crds/index.ts";
import { loadExample } from "../../fixtures/examples.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  listObjects,
  testImages,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";

const namespace = `operator-em-${process.pid}`;
const exampleName = "jude-minilm";
const version = "minilm-v1";
const childName = `${exampleName}-${version}`;
const servingSelector = `jude.dev/model=${exampleName},app.kubernetes.io/component=serving`;

function exampleModel(): Json {
  const model = loadExample("embedding-model.yaml");
  model.metadata = { ...(model.metadata as Json), namespace };
  return model;
}

// A claim bound to a pre-made volume (the testbed has no provisioner), so the scheduler can place
// the pods that mount it.
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
    claimRef: { namespace, name: "jude-models" },
  },
};
const claim: Json = {
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: "jude-models", namespace },
  spec: {
    accessModes: ["ReadOnlyMany"],
    storageClassName: "",
    volumeName: `${namespace}-models`,
    resources: { requests: { storage: "1Gi" } },
  },
};

describe("EmbeddingModel controller on the testbed", () => {
  useInProcessOperator(namespace);
  afterAll(async () => {
    await kubectl(["delete", "pv", `${namespace}-models`, "--wait=false", "--ignore-not-found"]);
  });

  it("waits for a missing model claim, naming it, and goes on when it is created", async () => {
    await apply([exampleModel()]);
    const waiting = await waitForModel(
      exampleName,
      (model) => condition(model, "Ready")?.reason === "PersistentVolumeClaimNotFound",
    );
    expect(condition(waiting, "Ready")?.message).toContain(
      "PersistentVolumeClaim jude-models (spec.model.uri)",
    );
    expect(condition(waiting, "Ready")?.status).toBe("False");
    // Waited for within the promotion's progress deadline, not failed: it may be created after the model.
    expect(condition(waiting, "Reconciling")?.status).toBe("True");
    expect((waiting.status as Json).versions).toMatchObject([{ version, phase: "Deploying" }]);
    await apply([volume, claim]);
    await waitForModel(exampleName, (model) => condition(model, "Ready")?.status === "True", 180_000);
  });

  it("renders the Deployment, Services, PDB and HPA with the builders' fields", async () => {
    const stored = parseEmbeddingModel(await getObject(`embeddingmodel/${exampleName}`, namespace));
    const desired = desiredVersionObjects(stored, testImages) as Json[];
    const deployment = (await getObject(`deployment/${childName}`, namespace)) as Json;
    const desiredDeployment = desired.find((object) => object.kind === "Deployment") as Json;
    const template = (deployment.spec as Json).template as Json;
    const desiredTemplate = (desiredDeployment.spec as Json).template as Json;
    expect((template.metadata as Json).annotations).toMatchObject({
      [annotationKeys.configHash]: ((desiredTemplate.metadata as Json).annotations as Json)[
        annotationKeys.configHash
      ],
    });
    const pod = template.spec as { containers: Json[]; initContainers: Json[]; tolerations: Json[] };
    expect(pod.containers[0]).toMatchObject({
      image: "ghcr.io/jude-dev/jude:0.1.0-cuda",
      resources: { limits: { "nvidia.com/gpu": "1" }, requests: { "nvidia.com/gpu": "1" } },
      lifecycle: { preStop: { sleep: { seconds: 5 } } },
    });
    expect(pod.initContainers.map((container) => container.name)).toEqual(["fetch-model", "model-manifest"]);
    expect(pod.tolerations).toContainEqual({
      key: "nvidia.com/gpu",
      operator: "Exists",
      effect: "NoSchedule",
    });
    expect(await getObject(`service/${childName}`, namespace)).toBeDefined();
    expect(((await getObject(`service/${exampleName}`, namespace))?.spec as Json).selector).toMatchObject({
      "jude.dev/version": version,
    });
    expect(((await getObject(`pdb/${childName}`, namespace))?.spec as Json).maxUnavailable).toBe(1);
    expect(((await getObject(`hpa/${childName}`, namespace))?.spec as Json).minReplicas).toBe(2);
    // Named by its content (what the Deployment mounts), never the Deployment's name.
    const desiredConfig = desired.find((object) => object.kind === "ConfigMap") as Json;
    const configName = (desiredConfig.metadata as Json).name as string;
    expect(configName).toMatch(new RegExp(`^${childName}-[0-9a-f]{10}$`));
    expect(configMapNameOf(deployment as MountingWorkload)).toBe(configName);
    const configMap = (await getObject(`configmap/${configName}`, namespace)) as Json;
    expect(Object.keys(configMap.data as Json).sort()).toEqual(["jude-model.json", "serving.yaml"]);
  });

  it("runs the admitted pods on GPU nodes only and reports the version Ready", async () => {
    const pods = await listObjects("pods", namespace, servingSelector);
    expect(pods.length).toBeGreaterThanOrEqual(2);
    for (const pod of pods) expect(String((pod.spec as Json).nodeName)).toMatch(/^kwok-gpu-/);
    const model = await getObject(`embeddingmodel/${exampleName}`, namespace);
    const status = model?.status as Json;
    expect(status.activeVersion).toBe(version);
    expect(status.observedGeneration).toBe((model?.metadata as Json).generation);
    expect(status.versions).toEqual([
      {
        version,
        phase: "Active",
        readyReplicas: 2,
        endpoint: `${childName}.${namespace}.svc:50051`,
        modelDigest: "76edd143b0c9457a40a018144d94a10a7973d218d5de1d7e317a88516e0467ab",
        activatedTime: expect.any(String),
      },
    ]);
  });

  it("rolls the pods out when the batching config changes", async () => {
    const before = (await getObject(`deployment/${childName}`, namespace)) as Json;
    const hashBefore = ((((before.spec as Json).template as Json).metadata as Json).annotations as Json)[
      annotationKeys.configHash
    ];
    await kubectl([
      "patch",
      "embeddingmodel",
      exampleName,
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { serving: { batching: { maxBatchSize: 16 } } } }),
    ]);
    await waitFor(
      "a new ReplicaSet for the changed config",
      async () => (await listObjects("replicasets", namespace, servingSelector)).length === 2,
      { timeoutMs: 60_000 },
    );
    const after = (await getObject(`deployment/${childName}`, namespace)) as Json;
    const hashAfter = ((((after.spec as Json).template as Json).metadata as Json).annotations as Json)[
      annotationKeys.configHash
    ];
    expect(hashAfter).not.toBe(hashBefore);
    // A new ConfigMap (named by its content), mounted by the new template; the old pods keep theirs.
    const configAfter = configMapNameOf(after as MountingWorkload);
    expect(configAfter).not.toBe(configMapNameOf(before as MountingWorkload));
    expect(
      ((await getObject(`configmap/${configAfter}`, namespace))?.data as Json)["serving.yaml"],
    ).toContain("maxBatchSize: 16");
    await waitForModel(
      exampleName,
      (model) =>
        condition(model, "Ready")?.status === "True" &&
        (model.status as Json).observedGeneration === (model.metadata as Json).generation,
    );
    // Rolled out: the old pods are gone, and so is the ConfigMap they mounted (never rewritten meanwhile).
    const configBefore = configMapNameOf(before as MountingWorkload);
    await waitFor(
      "the superseded serving ConfigMap deleted",
      async () => (await getObject(`configmap/${configBefore}`, namespace)) === undefined,
      { timeoutMs: 60_000 },
    );
    expect(await getObject(`configmap/${configAfter}`, namespace)).toBeDefined();
  });

  it("scales a fixed-size model and waits for a missing Secret until it exists", async () => {
    await apply([
      cpuModel(namespace, "minilm-cpu", {
        replicas: 1,
        auth: { tokenSecretRef: { name: "minilm-token", key: "token" } },
      }),
    ]);
    const stalled = await waitForModel(
      "minilm-cpu",
      (model) => condition(model, "Ready")?.reason === "SecretNotFound",
    );
    expect(condition(stalled, "Reconciling")).toMatchObject({ status: "True", reason: "SecretNotFound" });
    expect(condition(stalled, "Ready")?.message).toContain(
      "Secret minilm-token (spec.serving.auth.tokenSecretRef) does not exist",
    );
    expect(await getObject("deployment/minilm-cpu-v1", namespace)).toBeUndefined();
    await kubectl([
      "create",
      "secret",
      "generic",
      "minilm-token",
      "-n",
      namespace,
      "--from-literal=token=s3cret",
    ]);
    await waitForModel("minilm-cpu", (model) => condition(model, "Ready")?.status === "True", 120_000);
    await kubectl([
      "patch",
      "embeddingmodel",
      "minilm-cpu",
      "-n",
      namespace,
      "--type=merge",
      "-p",
      '{"spec":{"serving":{"replicas":3}}}',
    ]);
    const scaled = await waitForModel(
      "minilm-cpu",
      (model) =>
        ((model.status as Json).versions as Json[] | undefined)?.[0]?.readyReplicas === 3 &&
        condition(model, "Ready")?.status === "True",
    );
    expect(((await getObject("deployment/minilm-cpu-v1", namespace))?.spec as Json).replicas).toBe(3);
    expect((await listObjects("pods", namespace, "jude.dev/model=minilm-cpu")).length).toBe(3);
    expect(condition(scaled, "Reconciling")?.status).toBe("False");
    // CPU pods tolerate no GPU taint and request no accelerator: they run on the CPU node.
    for (const pod of await listObjects("pods", namespace, "jude.dev/model=minilm-cpu"))
      expect((pod.spec as Json).nodeName).toBe("kwok-cpu-0");
  });

  it("records Events for the transitions", async () => {
    const events = await listObjects("events", namespace, "");
    const reasons = events
      .filter((event) => (event.involvedObject as Json).name === "minilm-cpu")
      .map((event) => event.reason);
    expect(reasons).toContain("SecretNotFound");
    expect(reasons).toContain("Ready");
  });

  it("waits for a TLS Secret's tls.crt and tls.key, naming the keys; once they exist, a renewal rolls the pods", async () => {
    // An Opaque Secret with other key names mounts fine; jude serve would then fail at start.
    await kubectl([
      "create",
      "secret",
      "generic",
      "minilm-tls",
      "-n",
      namespace,
      "--from-literal=cert.pem=x",
    ]);
    await apply([cpuModel(namespace, "minilm-tls", { replicas: 1, tls: { secretName: "minilm-tls" } })]);
    const stalled = await waitForModel(
      "minilm-tls",
      (model) => condition(model, "Ready")?.reason === "SecretKeyNotFound",
    );
    expect(condition(stalled, "Ready")).toMatchObject({
      reason: "SecretKeyNotFound",
      message: expect.stringContaining(
        "Secret minilm-tls has no key tls.crt, tls.key (spec.serving.tls.secretName)",
      ),
    });
    expect(await getObject("deployment/minilm-tls-v1", namespace)).toBeUndefined();

    // With its keys the version renders; the server reads its certificate only at start, so a renewed
    // certificate (cert-manager writes the Secret) must roll the pods: a digest of the certificate and
    // key it reads is in the template. A write of the Secret that changes neither must not roll them.
    const template = async () =>
      ((await getObject("deployment/minilm-tls-v1", namespace))?.spec as Json | undefined)?.template as
        Json | undefined;
    const tlsVersionInTemplate = async () =>
      ((await template())?.metadata as Json | undefined)?.annotations as Record<string, string> | undefined;
    const stampOf = (cert: string) =>
      secretStampsOf(
        [{ name: "minilm-tls", files: servingTlsFiles, values: false }],
        Object.assign(
          new Map([
            [
              "minilm-tls",
              new Map([
                ["tls.crt", Buffer.from(cert)],
                ["tls.key", Buffer.from("key")],
              ]),
            ],
          ]),
          { versions: new Map<string, string>() },
        ),
      );
    const writeCertificate = (cert: string, also: { annotations?: Json; stringData?: Json } = {}) =>
      kubectl([
        "patch",
        "secret",
        "minilm-tls",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        JSON.stringify({
          ...(also.annotations !== undefined ? { metadata: { annotations: also.annotations } } : {}),
          stringData: { ...also.stringData, "tls.crt": cert, "tls.key": "key" },
        }),
      ]);
    await writeCertificate("first certificate");
    await waitFor(
      "the TLS certificate's digest in the serving pod template",
      async () =>
        (await tlsVersionInTemplate())?.[annotationKeys.secretVersions] === stampOf("first certificate"),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    // What cert-manager also writes: its annotations, a ca.crt the server does not read. Then a batching
    // change, which rolls the pods: once its hash is in the template, the operator has read the Secret
    // as written, and the Secret's stamp must be the same as before that write.
    const first = (await tlsVersionInTemplate())![annotationKeys.secretVersions];
    const hashBefore = (await tlsVersionInTemplate())![annotationKeys.configHash];
    await writeCertificate("first certificate", {
      annotations: { "cert-manager.io/certificate-revision": "2" },
      stringData: { "ca.crt": "a CA" },
    });
    await kubectl([
      "patch",
      "embeddingmodel",
      "minilm-tls",
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { serving: { batching: { maxBatchSize: 16 } } } }),
    ]);
    await waitFor(
      "the batching change's config hash in the serving pod template",
      async () => (await tlsVersionInTemplate())?.[annotationKeys.configHash] !== hashBefore,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect((await tlsVersionInTemplate())![annotationKeys.secretVersions]).toBe(first);
    const hash = (await tlsVersionInTemplate())![annotationKeys.configHash];
    await writeCertificate("renewed certificate");
    await waitFor(
      "the renewed certificate's digest in the serving pod template",
      async () =>
        (await tlsVersionInTemplate())?.[annotationKeys.secretVersions] === stampOf("renewed certificate"),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect((await tlsVersionInTemplate())![annotationKeys.configHash]).toBe(hash);
    expect(JSON.stringify(await getObject("deployment/minilm-tls-v1", namespace))).not.toContain(
      "renewed certificate",
    );
    await kubectl(["delete", "embeddingmodel", "minilm-tls", "-n", namespace, "--wait=true"]);
  });

  it("reads a signed model URL only from its Secret: waits for a missing key, then wires a secretKeyRef", async () => {
    const uri = "https://bucket.s3.amazonaws.com/minilm/v1/model.tar.gz";
    const signed = `${uri}?X-Amz-Credential=AKIASECRETKEYID&X-Amz-Signature=sigsecretsig`;
    await kubectl(["create", "secret", "generic", "minilm-download", "-n", namespace, "--from-literal=u=x"]);
    const model = cpuModel(namespace, "minilm-signed", { replicas: 1 });
    (model.spec as Json).model = {
      uri,
      uriSecretRef: { name: "minilm-download", key: "url" },
      sha256: "a".repeat(64),
      dimensions: 384,
    };
    await apply([model]);
    const stalled = await waitForModel(
      "minilm-signed",
      (object) => condition(object, "Ready")?.reason === "SecretKeyNotFound",
    );
    expect(condition(stalled, "Ready")).toMatchObject({
      reason: "SecretKeyNotFound",
      message: expect.stringContaining("Secret minilm-download has no key url (spec.model.uriSecretRef)"),
    });
    expect(await getObject("deployment/minilm-signed-v1", namespace)).toBeUndefined();

    // A Secret URL of another artifact: fetch-model would refuse it in every pod; the model stalls
    // now, naming both paths and neither the signature nor the key id.
    const patchUrl = (url: string) =>
      kubectl([
        "patch",
        "secret",
        "minilm-download",
        "-n",
        namespace,
        "-p",
        JSON.stringify({ stringData: { url } }),
      ]);
    await patchUrl(signed.replace("/v1/", "/v2/"));
    const mismatched = await waitForModel(
      "minilm-signed",
      (object) => condition(object, "Ready")?.reason === "SecretURLMismatch",
    );
    expect(condition(mismatched, "Ready")?.message).toContain(
      "names https://bucket.s3.amazonaws.com/minilm/v2/model.tar.gz?…, not https://bucket.s3.amazonaws.com/minilm/v1/model.tar.gz (spec.model.uri)",
    );
    expect(JSON.stringify(mismatched)).not.toMatch(/AKIASECRETKEYID|sigsecretsig/);
    expect(await getObject("deployment/minilm-signed-v1", namespace)).toBeUndefined();

    await patchUrl(signed);
    await waitFor(
      "the Deployment of minilm-signed",
      async () => (await getObject("deployment/minilm-signed-v1", namespace)) !== undefined,
      { timeoutMs: 60_000 },
    );
    const deployment = (await getObject("deployment/minilm-signed-v1", namespace))!;
    const pod = ((deployment.spec as Json).template as Json).spec as Json;
    const fetch = (pod.initContainers as Json[]).find((container) => container.name === "fetch-model")!;
    expect(fetch.env).toEqual([
      { name: "JUDE_MODEL_URI", valueFrom: { secretKeyRef: { name: "minilm-download", key: "url" } } },
    ]);
    expect(fetch.args).toEqual(expect.arrayContaining(["--uri", uri, "--uri-env", "JUDE_MODEL_URI"]));
    // The credential is nowhere the operator writes: children, ConfigMaps, Events, the model's status.
    const written = await Promise.all([
      listObjects("deployments", namespace, "jude.dev/model=minilm-signed"),
      listObjects("configmaps", namespace, ""),
      listObjects("events", namespace, ""),
      getObject("embeddingmodel/minilm-signed", namespace),
    ]);
    expect(JSON.stringify(written)).toContain(uri);
    expect(JSON.stringify(written)).not.toMatch(/AKIASECRETKEYID|sigsecretsig/);
    await kubectl(["delete", "embeddingmodel", "minilm-signed", "-n", namespace, "--wait=true"]);
  });

  it("lets the garbage collector remove every child when the model is deleted", async () => {
    await kubectl(["delete", "embeddingmodel", "minilm-cpu", "-n", namespace, "--wait=true"]);
    await waitFor(
      "children of minilm-cpu to be garbage-collected",
      async () =>
        (
          await Promise.all(
            ["deployments", "services", "configmaps", "pdb", "replicasets"].map((kind) =>
              listObjects(kind, namespace, "jude.dev/model=minilm-cpu"),
            ),
          )
        ).every((items) => items.length === 0),
      { timeoutMs: 60_000 },
    );
  });
});

async function waitForModel(
  name: string,
  predicate: (model: Json) => boolean,
  timeoutMs = 90_000,
): Promise<Json> {
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
