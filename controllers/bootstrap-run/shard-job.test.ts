import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { bootstrapConfigSchema, resolveShardIndex } from "../../pipelines/bootstrap/config.ts";
import type { BootstrapRun } from "../../crds/index.ts";
import { configFileName } from "../nearline-pipeline/config-map.ts";
import { resolveLiveVersions, type LiveVersion } from "../nearline-pipeline/live-versions.ts";
import { setPath, testModel, testPipeline, testRun } from "../nearline-pipeline/test-objects.ts";
import { checkGolden } from "../shared/golden.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { testPlacement, testPulledImages } from "../shared/test-placement.ts";
import { imagesFor, type Images } from "../shared/image.ts";
import { EXIT_INTERRUPTED, EXIT_USAGE } from "../../pipelines/bootstrap/main.ts";
import { desiredShards, type DesiredShards } from "./shard-job.ts";

const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");
const golden = (name: string) => join(import.meta.dirname, "golden", name);
const watermarks = {
  capturedTime: "2026-12-01T10:00:05Z",
  topic: "jobs.changelog",
  partitions: [
    { partition: 0, offset: 1200 },
    { partition: 1, offset: 980 },
  ],
};

function version(): LiveVersion {
  return resolveLiveVersions(testModel()).versions[0]!;
}

function shards(
  run: BootstrapRun,
  placement?: WorkloadPlacement,
  shardImages: Images = images,
): DesiredShards {
  return desiredShards(
    { run, pipeline: testPipeline(), model: testModel(), version: version() },
    shardImages,
    placement,
  );
}

/** The shard config inside the ConfigMap, parsed by the shard's own schema (throws if invalid). */
function shardConfig(rendered: DesiredShards) {
  return bootstrapConfigSchema.parse(parse(rendered.configMap.data![configFileName]!));
}

const kafkaRun = () => testRun((object) => setPath(object, "status.watermarks", watermarks));

describe("desiredShards", () => {
  it("renders a Kafka snapshot run's ConfigMap and Indexed Job, placed and pulled by the operator's defaults (golden)", () => {
    const rendered = shards(kafkaRun(), testPlacement, testPulledImages);
    expect(checkGolden(golden("kafka-snapshot.yaml"), [rendered.configMap, rendered.job])).toBeUndefined();
  });

  it("ends its container's termination message with its last log lines when it fails without one", () => {
    // jude writes no termination-log file: with the default policy a crash's message is empty, and the
    // run's status could say only "exit code 1".
    const containers = shards(kafkaRun()).job.spec?.template.spec?.containers ?? [];
    expect(containers.map((container) => container.terminationMessagePolicy)).toEqual([
      "FallbackToLogsOnError",
    ]);
  });

  it("renders a files run with a PersistentVolumeClaim mounted read-only (golden)", () => {
    const run = testRun((object) => {
      setPath(object, "spec.source", {
        files: {
          uris: [
            "pvc://snapshots/jobs/part-0.jsonl",
            "pvc://snapshots/jobs/part-1.jsonl",
            "https://dumps.example.com/jobs-2.jsonl",
          ],
        },
      });
      setPath(object, "spec.parallelism", 3);
      setPath(object, "spec.scope", { eventTimeFrom: "2026-01-01T00:00:00Z" });
    });
    const rendered = shards(run);
    expect(checkGolden(golden("files.yaml"), [rendered.configMap, rendered.job])).toBeUndefined();
    const config = shardConfig(rendered);
    expect(config.source.files?.uris).toEqual([
      "file:///var/run/jude/pvc/snapshots/jobs/part-0.jsonl",
      "file:///var/run/jude/pvc/snapshots/jobs/part-1.jsonl",
      "https://dumps.example.com/jobs-2.jsonl",
    ]);
    expect(rendered.job.spec!.template.spec!.volumes).toContainEqual({
      name: "pvc-0",
      persistentVolumeClaim: { claimName: "snapshots", readOnly: true },
    });
  });

  it("renders a config every shard accepts, reading up to the captured watermarks", () => {
    const config = shardConfig(shards(kafkaRun()));
    expect(config.run).toEqual({ namespace: "recs", name: "jobs-minilm-v1", uid: kafkaRun().metadata.uid });
    expect(config.source.kafka?.watermarks).toEqual(watermarks.partitions);
    expect(config.shards).toEqual({ count: 8 });
    expect(config.model).toMatchObject({ version: "minilm-v1", dimensions: 384 });
    expect(config.store.url).toEqual({ env: "JUDE_STORE_URL" });
    // The index comes from the Indexed Job, one per pod.
    expect(resolveShardIndex(config, { JOB_COMPLETION_INDEX: "7" }).shards.index).toBe(7);
  });

  it("tells the shards the store is a Redis Cluster when the pipeline says so", () => {
    const pipeline = testPipeline("nearline-pipeline-jobs.yaml", (object) =>
      setPath(object, "spec.sinks.store.cluster", true),
    );
    const rendered = desiredShards(
      { run: kafkaRun(), pipeline, model: testModel(), version: version() },
      images,
    );
    expect(shardConfig(rendered).store).toMatchObject({ cluster: true, url: { env: "JUDE_STORE_URL" } });
    expect(shardConfig(shards(kafkaRun())).store.cluster).toBe(false);
  });

  it("gives the shards the serving token as a Secret volume file, which the kubelet updates in place", () => {
    const model = testModel((object) =>
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-serving-token", key: "token" } }),
    );
    const rendered = desiredShards(
      { run: kafkaRun(), pipeline: testPipeline(), model, version: resolveLiveVersions(model).versions[0]! },
      images,
    );
    expect(shardConfig(rendered).embedding.token).toEqual({
      file: "/var/run/jude/secrets/serving-token/token",
    });
    const pod = rendered.job.spec!.template.spec!;
    expect(pod.volumes).toContainEqual(
      expect.objectContaining({
        name: "serving-token",
        secret: expect.objectContaining({ secretName: "jude-serving-token" }),
      }),
    );
    expect(pod.containers[0]!.volumeMounts).toContainEqual({
      name: "serving-token",
      mountPath: "/var/run/jude/secrets/serving-token",
      readOnly: true,
    });
    expect((pod.containers[0]!.env ?? []).map((variable) => variable.name)).not.toContain(
      "JUDE_EMBEDDING_TOKEN",
    );
    expect(rendered.secretNames).toContain("jude-serving-token");
  });

  it("gives the shards the serving CA only when the TLS Secret has ca.crt, else the system roots", () => {
    const model = testModel((object) =>
      setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" }),
    );
    const render = (keys: string[]) =>
      desiredShards(
        {
          run: kafkaRun(),
          pipeline: testPipeline(),
          model,
          version: resolveLiveVersions(model).versions[0]!,
        },
        images,
        undefined,
        { secretKeys: new Map([["jude-minilm-tls", new Set(keys)]]) },
      );
    const withoutCa = render(["tls.crt", "tls.key"]);
    expect(shardConfig(withoutCa).embedding.tls).toEqual({});
    expect((withoutCa.job.spec!.template.spec!.volumes ?? []).map((volume) => volume.name)).not.toContain(
      "serving-ca",
    );
    const withCa = render(["tls.crt", "tls.key", "ca.crt"]);
    expect(shardConfig(withCa).embedding.tls).toEqual({ caFile: "/var/run/jude/secrets/serving-ca/ca.crt" });
    expect(withCa.secretNames).toContain("jude-minilm-tls");
  });

  it("runs one shard per index with the run's back-off, deadline, TTL and suspend", () => {
    const run = testRun((object) => {
      setPath(object, "status.watermarks", watermarks);
      setPath(object, "spec.suspend", true);
    });
    const spec = shards(run).job.spec!;
    expect(spec).toMatchObject({
      completionMode: "Indexed",
      completions: 8,
      parallelism: 8,
      backoffLimit: 6,
      activeDeadlineSeconds: 21600,
      ttlSecondsAfterFinished: 604800,
      suspend: true,
    });
    expect(spec.template.spec!.restartPolicy).toBe("Never");
  });

  it("fails the run at a bad config, and does not count a shard interrupted by hand or evicted against backoffLimit", () => {
    // `kubectl delete pod` sets no DisruptionTarget condition: the shard checkpoints and exits 75,
    // and only its exit code tells the Job that the shard was interrupted rather than failed.
    const spec = shards(kafkaRun()).job.spec!;
    expect(spec.podFailurePolicy?.rules).toEqual([
      {
        action: "FailJob",
        onExitCodes: { containerName: "bootstrap", operator: "In", values: [EXIT_USAGE] },
      },
      {
        action: "Ignore",
        onExitCodes: { containerName: "bootstrap", operator: "In", values: [EXIT_INTERRUPTED] },
      },
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    ]);
    // A podFailurePolicy requires restartPolicy Never; the rules name the shard's container.
    expect(spec.template.spec!.restartPolicy).toBe("Never");
    expect(spec.template.spec!.containers.map((container) => container.name)).toContain("bootstrap");
  });

  it("refuses to render a Kafka run before its watermarks are captured", () => {
    expect(() => shards(testRun())).toThrow(/watermarks must be captured/);
  });

  it("is owned by the run", () => {
    const rendered = shards(kafkaRun());
    for (const object of [rendered.configMap, rendered.job])
      expect(object.metadata!.ownerReferences).toEqual([
        expect.objectContaining({ kind: "BootstrapRun", name: "jobs-minilm-v1", controller: true }),
      ]);
  });
});
