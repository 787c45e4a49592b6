import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { nearlineConfigSchema, workerDrainMs } from "../../pipelines/nearline/config.ts";
import { checkGolden } from "../shared/golden.ts";
import { testPlacement, testPulledImages } from "../shared/test-placement.ts";
import { record } from "../embedding-model/promotion-fixtures.ts";
import { imagesFor } from "../shared/image.ts";
import { annotationKeys, labelKeys } from "../shared/labels.ts";
import type { SecretsAsRead } from "../shared/secret-wiring.ts";
import { configFileName } from "./config-map.ts";
import { resolveLiveVersions, type LiveVersion } from "./live-versions.ts";
import { setPath, testModel, testPipeline } from "./test-objects.ts";
import { desiredWorkers, startOffsetsAnnotation, type DesiredWorkers } from "./worker-deployment.ts";

const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");
const golden = (name: string) => join(import.meta.dirname, "golden", name);

function liveVersion(model = testModel()): LiveVersion {
  const [version] = resolveLiveVersions(model).versions;
  if (version === undefined) throw new Error("test model has no resolvable version");
  return version;
}

/** The worker config inside the ConfigMap, parsed by the worker's own schema (throws if invalid). */
function workerConfig(workers: DesiredWorkers) {
  return nearlineConfigSchema.parse(parse(workers.configMap.data![configFileName]!));
}

/** Secrets as the reconcile reads them: name, resourceVersion, data. */
function readSecrets(entries: [string, string, Record<string, string>][]): SecretsAsRead {
  const versions = new Map(entries.map(([name, version]) => [name, version]));
  const data = entries.map(
    ([name, , values]) =>
      [name, new Map(Object.entries(values).map(([key, value]) => [key, Buffer.from(value)]))] as const,
  );
  return Object.assign(new Map(data), { versions });
}

describe("desiredWorkers", () => {
  it("renders the jobs pipeline's ConfigMap, Deployment and PodDisruptionBudget (golden)", () => {
    const workers = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    expect(
      checkGolden(golden("jobs.yaml"), [workers.configMap, workers.deployment, workers.disruptionBudget]),
    ).toBeUndefined();
    // The budget covers exactly this version's workers.
    expect(workers.disruptionBudget.spec?.selector?.matchLabels).toEqual(
      workers.deployment.spec?.selector.matchLabels,
    );
  });

  it("rolls a new worker in before an old one leaves, and gives a leaving worker its whole drain before SIGKILL", () => {
    const { deployment } = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    // The old worker keeps its partitions until the new one has joined (maxUnavailable 0).
    expect(deployment.spec?.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    // Its drain (batch in hand written and committed), then the group leave and closes, fit the grace.
    const grace = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
    expect(grace * 1000).toBeGreaterThanOrEqual(workerDrainMs + 10_000);
  });

  it("names the ConfigMap by its content (a change makes a new one, never rewrites the one older pods mount) and mounts that name", () => {
    const render = (maxBatchSize?: number) =>
      desiredWorkers(
        testPipeline("nearline-pipeline-jobs.yaml", (object) => {
          if (maxBatchSize !== undefined) setPath(object, "spec.workers.maxBatchSize", maxBatchSize);
        }),
        testModel(),
        liveVersion(),
        images,
      );
    const mounted = (workers: DesiredWorkers) =>
      (workers.deployment.spec?.template.spec?.volumes ?? []).flatMap(
        (volume) => volume.configMap?.name ?? [],
      );
    const before = render();
    const hash = before.deployment.spec?.template.metadata?.annotations?.[annotationKeys.configHash] ?? "";
    expect(before.configMap.metadata?.name).toBe(`${before.deployment.metadata?.name}-${hash.slice(0, 10)}`);
    expect(before.configMap.metadata?.labels?.[labelKeys.configOf]).toBe(before.deployment.metadata?.name);
    expect(mounted(before)).toEqual([before.configMap.metadata?.name]);
    expect(render().configMap.metadata?.name).toBe(before.configMap.metadata?.name);
    const after = render(7);
    expect(after.configMap.metadata?.name).not.toBe(before.configMap.metadata?.name);
    expect(mounted(after)).toEqual([after.configMap.metadata?.name]);
  });

  it("ends its container's termination message with its last log lines when it fails without one", () => {
    const workers = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    const containers = workers.deployment.spec?.template.spec?.containers ?? [];
    expect(containers.map((container) => container.terminationMessagePolicy)).toEqual([
      "FallbackToLogsOnError",
    ]);
  });

  it("renders TLS files, SASL credentials, serving TLS and token by reference, placed and pulled by the operator's defaults (golden)", () => {
    const model = testModel((object) => {
      setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" });
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-serving-token", key: "token" } });
    });
    const pipeline = testPipeline("nearline-pipeline-member-profiles.yaml", (object) =>
      setPath(object, "spec.sinks.store.durability", { replicas: 1 }),
    );
    const workers = desiredWorkers(pipeline, model, liveVersion(model), testPulledImages, testPlacement);
    expect(
      checkGolden(golden("member-profiles.yaml"), [workers.configMap, workers.deployment]),
    ).toBeUndefined();
    expect(workers.secretNames).toEqual([
      "jude-kafka-user",
      "jude-minilm-tls",
      "jude-redis",
      "jude-serving-token",
      "profiles-kafka-ca",
    ]);
  });

  it("renders a config the nearline worker accepts, with the pipeline's and model's values", () => {
    const workers = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    const config = workerConfig(workers);
    expect(config.pipeline).toEqual({ namespace: "recs", name: "jobs" });
    expect(config.model).toMatchObject({ version: "minilm-v1", dimensions: 384 });
    expect(config.model.digest).toBe(
      "sha256:76edd143b0c9457a40a018144d94a10a7973d218d5de1d7e317a88516e0467ab",
    );
    expect(config.model.template).toMatch(/^Job posting\. Title: \{\{title\}\}/);
    expect(config.source.kafka).toMatchObject({
      topic: "jobs.changelog",
      consumerGroup: "jude.jobs.minilm-v1",
      startOffset: "latest",
    });
    expect(config.embedding.endpoint).toBe("jude-minilm-minilm-v1.recs.svc:50051");
    expect(config.sinks.store.url).toEqual({ env: "JUDE_STORE_URL" });
    expect(config.http.port).toBe(9090);
  });

  it("carries the store durability into the worker config, defaults filled, and leaves it out when unset", () => {
    const durable = testPipeline("nearline-pipeline-jobs.yaml", (object) =>
      setPath(object, "spec.sinks.store.durability", { replicas: 2, fsync: true }),
    );
    const config = workerConfig(desiredWorkers(durable, testModel(), liveVersion(), images));
    expect(config.sinks.store.durability).toEqual({ replicas: 2, fsync: true, timeoutMs: 1000 });
    const plain = workerConfig(desiredWorkers(testPipeline(), testModel(), liveVersion(), images));
    expect(plain.sinks.store.durability).toBeUndefined();
  });

  it("tells the workers the store is a Redis Cluster, and renders nothing new for a standalone store", () => {
    const clustered = testPipeline("nearline-pipeline-jobs.yaml", (object) =>
      setPath(object, "spec.sinks.store.cluster", true),
    );
    const rendered = desiredWorkers(clustered, testModel(), liveVersion(), images);
    expect(workerConfig(rendered).sinks.store).toMatchObject({
      cluster: true,
      url: { env: "JUDE_STORE_URL" },
    });
    // Unset (or false): the ConfigMap stays as before the field existed, so an upgrade rolls no workers.
    const plain = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    expect(plain.configMap.data![configFileName]).not.toContain("cluster");
    expect(workerConfig(plain).sinks.store.cluster).toBe(false);
  });

  // The candidate turns TLS and a token on while the active version, served as its record says,
  // still runs plaintext without auth: its workers must keep calling it as it serves, or every call
  // fails and the active version's vectors go stale for the whole promotion.
  it("calls a recorded version's server with that version's TLS, token and batching, not the spec's", () => {
    const model = testModel((object) => {
      setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" });
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-serving-token", key: "token" } });
      setPath(object, "spec.serving.batching.maxConcurrentRequests", 4096);
    });
    const active = record("minilm-v1", { workers: true });
    active.spec = {
      ...active.spec,
      model: { ...active.spec.model, sha256: "c".repeat(64) },
      serving: { ...testModel().spec.serving },
    };
    const [version] = resolveLiveVersions(model, [active]).versions;
    const workers = desiredWorkers(testPipeline(), model, version!, images);
    const config = workerConfig(workers);
    expect(config.embedding.tls).toBeUndefined();
    expect(config.embedding.token).toBeUndefined();
    expect(workers.secretNames).not.toContain("jude-serving-token");
    expect(config.embedding.maxBatchSize).toBe(
      workerConfig(desiredWorkers(testPipeline(), testModel(), liveVersion(), images)).embedding.maxBatchSize,
    );
  });

  it("never copies a secret value into the ConfigMap or the pod", () => {
    const model = testModel((object) =>
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-serving-token", key: "token" } }),
    );
    const pipeline = testPipeline("nearline-pipeline-member-profiles.yaml", (object) =>
      setPath(object, "spec.sinks.store.durability", { replicas: 1 }),
    );
    const workers = desiredWorkers(pipeline, model, liveVersion(model), images);
    const config = workerConfig(workers);
    expect(config.source.kafka.sasl?.username).toEqual({ env: "JUDE_KAFKA_SASL_USERNAME" });
    expect(config.source.kafka.tls?.caFile).toBe("/var/run/jude/secrets/kafka-ca/ca.crt");
    // The token as a Secret volume file, which the kubelet updates in place on rotation.
    expect(config.embedding.token).toEqual({ file: "/var/run/jude/secrets/serving-token/token" });
    expect(workers.deployment.spec!.template.spec!.volumes).toContainEqual({
      name: "serving-token",
      secret: {
        secretName: "jude-serving-token",
        items: [{ key: "token", path: "token" }],
        defaultMode: 0o440,
      },
    });
    const mounts = workers.deployment.spec!.template.spec!.containers[0]!.volumeMounts ?? [];
    const tokenMount = mounts.find((mount) => mount.name === "serving-token");
    // A whole-volume mount: a subPath mount is never updated by the kubelet.
    expect(tokenMount).toEqual({
      name: "serving-token",
      mountPath: "/var/run/jude/secrets/serving-token",
      readOnly: true,
    });
    const env = workers.deployment.spec!.template.spec!.containers[0]!.env ?? [];
    // Secret values only by reference; the one other variable is the pod name (static group membership).
    expect(
      env.every(
        (variable) =>
          variable.value === undefined &&
          (variable.valueFrom?.secretKeyRef !== undefined ||
            (variable.name === "JUDE_POD_NAME" &&
              variable.valueFrom?.fieldRef?.fieldPath === "metadata.name")),
      ),
    ).toBe(true);
    expect(env.map((variable) => variable.name).sort()).toEqual([
      "JUDE_KAFKA_SASL_PASSWORD",
      "JUDE_KAFKA_SASL_USERNAME",
      "JUDE_POD_NAME",
      "JUDE_STORE_URL",
    ]);
  });

  it("changes the pod template's config hash exactly when the config changes", () => {
    const hash = (workers: DesiredWorkers) =>
      workers.deployment.spec!.template.metadata!.annotations![annotationKeys.configHash];
    const base = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    const same = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    const resized = desiredWorkers(
      testPipeline(undefined, (object) => setPath(object, "spec.workers.replicas", 9)),
      testModel(),
      liveVersion(),
      images,
    );
    const rebatched = desiredWorkers(
      testPipeline(undefined, (object) => setPath(object, "spec.workers.maxBatchSize", 16)),
      testModel(),
      liveVersion(),
      images,
    );
    expect(hash(same)).toBe(hash(base));
    expect(hash(resized)).toBe(hash(base));
    expect(resized.deployment.spec!.replicas).toBe(9);
    expect(hash(rebatched)).not.toBe(hash(base));
  });

  it("trusts the system roots when the serving TLS Secret has no ca.crt, and rolls when one is added", () => {
    const model = testModel((object) =>
      setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" }),
    );
    const render = (keys: string[]) =>
      desiredWorkers(
        testPipeline(),
        model,
        liveVersion(model),
        images,
        undefined,
        readSecrets([["jude-minilm-tls", "4", Object.fromEntries(keys.map((key) => [key, "PEM"]))]]),
        new Map([["jude-minilm-tls", new Set(keys)]]),
      );
    const withoutCa = render(["tls.crt", "tls.key"]);
    // TLS stays on; no caFile, so the worker's gRPC client verifies the server with the system roots.
    expect(workerConfig(withoutCa).embedding.tls).toEqual({});
    const pod = withoutCa.deployment.spec!.template.spec!;
    expect((pod.volumes ?? []).map((volume) => volume.name)).not.toContain("serving-ca");
    expect(withoutCa.secretNames).not.toContain("jude-minilm-tls");
    const withCa = render(["tls.crt", "tls.key", "ca.crt"]);
    expect(workerConfig(withCa).embedding.tls).toEqual({
      caFile: "/var/run/jude/secrets/serving-ca/ca.crt",
    });
    expect(withCa.deployment.spec!.template.spec!.volumes).toContainEqual(
      expect.objectContaining({
        name: "serving-ca",
        secret: expect.objectContaining({ secretName: "jude-minilm-tls" }),
      }),
    );
    // ca.crt added or removed changes the config, so the workers roll onto it.
    const hash = (workers: DesiredWorkers) =>
      workers.deployment.spec!.template.metadata!.annotations![annotationKeys.configHash];
    expect(hash(withCa)).not.toBe(hash(withoutCa));
    // A Secret the caller did not read is taken to hold ca.crt, as before.
    expect(
      workerConfig(desiredWorkers(testPipeline(), model, liveVersion(model), images)).embedding.tls,
    ).toEqual({ caFile: "/var/run/jude/secrets/serving-ca/ca.crt" });
  });

  it("puts what the pods read at start of each Secret into the pod template, so a rotation rolls them", () => {
    const model = testModel((object) =>
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-serving-token", key: "token" } }),
    );
    const pipeline = testPipeline("nearline-pipeline-member-profiles.yaml");
    type Read = [name: string, resourceVersion: string, data: Record<string, string>];
    const secrets: Read[] = [
      ["jude-redis", "700", { url: "redis://redis:6379" }],
      ["jude-kafka-user", "12", { username: "profiles", password: "Pa55word" }],
      ["profiles-kafka-ca", "9", { "ca.crt": "CA one", unused: "x" }],
      ["jude-serving-token", "31", { token: "t1" }],
      ["a-sibling-pipelines-store", "5", { url: "redis://other:6379" }],
    ];
    const annotations = (...changed: Read[]) =>
      desiredWorkers(
        pipeline,
        model,
        liveVersion(model),
        images,
        undefined,
        readSecrets(secrets.map((each) => changed.find(([name]) => name === each[0]) ?? each)),
      ).deployment.spec!.template.metadata!.annotations!;
    const before = annotations();
    // Only the Secrets these pods read at start, sorted; a Secret read elsewhere does not roll them,
    // nor does the serving token, whose file the workers read again when refused. A Secret read as
    // env values is named with its resourceVersion (never a digest of a password); one read only as
    // files with a digest of those files.
    expect(before[annotationKeys.secretVersions]).toMatch(
      /^jude-kafka-user@12,jude-redis@700,profiles-kafka-ca@sha256:[0-9a-f]{16}$/,
    );
    expect(JSON.stringify(before)).not.toContain("Pa55word");
    expect(annotations(["jude-serving-token", "32", { token: "t2" }])).toEqual(before);
    const rotated = annotations(["jude-kafka-user", "13", { username: "profiles", password: "n3w" }]);
    expect(rotated[annotationKeys.secretVersions]).toContain("jude-kafka-user@13");
    expect(rotated[annotationKeys.configHash]).toBe(before[annotationKeys.configHash]);
    expect(annotations(["a-sibling-pipelines-store", "6", { url: "redis://another:6379" }])).toEqual(before);
    // The CA file: a write that leaves ca.crt as it was does not roll the workers; a new CA does.
    expect(annotations(["profiles-kafka-ca", "10", { "ca.crt": "CA one", unused: "y" }])).toEqual(before);
    const newCa = annotations(["profiles-kafka-ca", "11", { "ca.crt": "CA two", unused: "y" }]);
    expect(newCa[annotationKeys.secretVersions]).not.toBe(before[annotationKeys.secretVersions]);
    expect(newCa[annotationKeys.configHash]).toBe(before[annotationKeys.configHash]);
  });

  it("sends no more texts per embedding call than the model's servers take in one call", () => {
    const config = (maxBatchSize: number, maxConcurrentRequests: number) => {
      const model = testModel((object) =>
        setPath(object, "spec.serving.batching.maxConcurrentRequests", maxConcurrentRequests),
      );
      return workerConfig(
        desiredWorkers(
          testPipeline(undefined, (object) => setPath(object, "spec.workers.maxBatchSize", maxBatchSize)),
          model,
          liveVersion(model),
          images,
        ),
      ).embedding.maxBatchSize;
    };
    // jude serve refuses a call of more than min(128, maxConcurrentRequests) inputs whole.
    expect(config(64, 512)).toBe(64);
    expect(config(64, 32)).toBe(32);
    expect(config(1000, 512)).toBe(128);
  });

  it("gives each version its own Deployment and consumer group", () => {
    const v1 = liveVersion();
    const v2: LiveVersion = { ...v1, version: "minilm-v2", endpoint: "jude-minilm-minilm-v2:50051" };
    const first = desiredWorkers(testPipeline(), testModel(), v1, images);
    const second = desiredWorkers(testPipeline(), testModel(), v2, images);
    expect(second.deployment.metadata!.name).toBe("jobs-minilm-v2-nearline");
    expect(workerConfig(second).source.kafka.consumerGroup).toBe("jude.jobs.minilm-v2");
    expect(second.deployment.spec!.selector.matchLabels).not.toEqual(
      first.deployment.spec!.selector.matchLabels,
    );
  });

  it("defaults the consumer group to jude.<namespace>.<pipeline>.<version>", () => {
    const pipeline = testPipeline(undefined, (object) =>
      setPath(object, "spec.source.kafka.consumerGroup", undefined),
    );
    const config = workerConfig(desiredWorkers(pipeline, testModel(), liveVersion(), images));
    expect(config.source.kafka.consumerGroup).toBe("jude.recs.jobs.minilm-v1");
  });

  it("records the start offsets of a version being promoted", () => {
    const version = {
      ...liveVersion(),
      startOffsets: [
        { partition: 0, offset: 42 },
        { partition: 1, offset: 7 },
      ],
    };
    const workers = desiredWorkers(testPipeline(), testModel(), version, images);
    expect(JSON.parse(workers.deployment.metadata!.annotations![startOffsetsAnnotation]!)).toEqual(
      version.startOffsets,
    );
  });

  it("runs pods the restricted profile admits and owned by the pipeline", () => {
    const workers = desiredWorkers(testPipeline(), testModel(), liveVersion(), images);
    const pod = workers.deployment.spec!.template.spec!;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.containers[0]!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    for (const object of [workers.configMap, workers.deployment]) {
      expect(object.metadata!.ownerReferences).toEqual([
        expect.objectContaining({ kind: "NearlinePipeline", name: "jobs", controller: true }),
      ]);
    }
  });
});
