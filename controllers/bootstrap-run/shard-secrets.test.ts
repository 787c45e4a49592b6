import type { V1Job } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { resolveLiveVersions } from "../nearline-pipeline/live-versions.ts";
import { setPath, testModel, testPipeline, testRun } from "../nearline-pipeline/test-objects.ts";
import { imagesFor } from "../shared/image.ts";
import { desiredShards } from "./shard-job.ts";
import { jobSecretNames, missingShardSecret } from "./shard-secrets.ts";

const watermarks = {
  capturedTime: "2026-12-01T10:00:05Z",
  topic: "jobs.changelog",
  partitions: [{ partition: 0, offset: 10 }],
};
const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");

/** The example model served over TLS from Secret jude-minilm-tls. */
const tlsModel = () =>
  testModel((object) => setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" }));

/** The Job a run of `pipeline` and `model` starts, with the Secrets' keys as they were then. */
function startedJob(
  pipeline: NearlinePipeline,
  model: EmbeddingModel,
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
): V1Job {
  const run = testRun((object) => setPath(object, "status.watermarks", watermarks));
  const version = resolveLiveVersions(model).versions[0]!;
  return desiredShards({ run, pipeline, model, version }, images, undefined, { secretKeys: secrets }).job;
}

const keys = (entries: Record<string, string[]>) =>
  new Map(Object.entries(entries).map(([name, names]) => [name, new Set(names)]));

describe("missingShardSecret", () => {
  const startedWith = keys({ "jude-redis": ["url"], "jude-minilm-tls": ["tls.crt", "tls.key", "ca.crt"] });
  const job = startedJob(testPipeline(), tlsModel(), startedWith);
  const surroundings = (secrets: ReadonlyMap<string, ReadonlySet<string>>, pipeline = testPipeline()) => ({
    pipeline,
    model: tlsModel(),
    siblings: [],
    secrets,
  });

  it("reads the Secrets the Job's pod template names", () => {
    expect([...jobSecretNames(job)].sort()).toEqual(["jude-minilm-tls", "jude-redis"]);
  });

  it("finds nothing while every Secret and key the Job reads exists", () => {
    expect(missingShardSecret(job, surroundings(startedWith))).toBeUndefined();
  });

  it("names the field of a Secret the Job reads that is gone, as the pipeline says it", () => {
    expect(missingShardSecret(job, surroundings(keys({ "jude-minilm-tls": ["ca.crt"] })))).toEqual({
      reason: "SecretNotFound",
      message:
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
    });
  });

  // Was: the serving TLS Secret's ca.crt was taken as optional, as it is for a pipeline's workers
  // rendered from the Secret as it is now; the Job's pods mount it as a required item, so a shard pod
  // started after ca.crt was removed waits in ContainerCreating and nothing said why.
  it("flags ca.crt gone from the serving TLS Secret when the Job's pods mount it", () => {
    const withoutCa = keys({ "jude-redis": ["url"], "jude-minilm-tls": ["tls.crt", "tls.key"] });
    expect(missingShardSecret(job, surroundings(withoutCa))).toEqual({
      reason: "SecretKeyNotFound",
      message:
        "EmbeddingModel jude-minilm: spec.serving.tls.secretName names key ca.crt of Secret jude-minilm-tls, which has no such key",
    });
    // A Job started without one mounts none: it does not need one.
    const noCaJob = startedJob(testPipeline(), tlsModel(), withoutCa);
    expect(missingShardSecret(noCaJob, surroundings(withoutCa))).toBeUndefined();
  });

  // Was: the current reference was checked, and only when its Secret's name was among the Job's; a
  // Job reading jude-redis, whose pipeline now names jude-redis-next, was not flagged when jude-redis
  // was deleted, though a shard pod started from then on reads it still.
  it("judges a reference renamed since the Job started by the Secret the Job reads", () => {
    const renamed = testPipeline("nearline-pipeline-jobs.yaml", (object) =>
      setPath(object, "spec.sinks.store.urlSecretRef", { name: "jude-redis-next", key: "url" }),
    );
    const now = keys({ "jude-redis-next": ["url"], "jude-minilm-tls": ["tls.crt", "tls.key", "ca.crt"] });
    expect(missingShardSecret(job, surroundings(now, renamed))).toEqual({
      reason: "SecretNotFound",
      message:
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef named Secret jude-redis when Job jobs-minilm-v1-bootstrap started (its shard pods read it), which does not exist",
    });
  });

  // Was: SecretKeyNotFound for the key the reference names now, which the running Job never reads,
  // and nothing for the key it does read.
  it("judges a key edited since the Job started by the key the Job reads", () => {
    const edited = testPipeline("nearline-pipeline-jobs.yaml", (object) =>
      setPath(object, "spec.sinks.store.urlSecretRef", { name: "jude-redis", key: "url-next" }),
    );
    const ca = ["tls.crt", "tls.key", "ca.crt"];
    expect(
      missingShardSecret(job, surroundings(keys({ "jude-redis": ["url"], "jude-minilm-tls": ca }), edited)),
    ).toBeUndefined();
    expect(
      missingShardSecret(
        job,
        surroundings(keys({ "jude-redis": ["url-next"], "jude-minilm-tls": ca }), edited),
      ),
    ).toEqual({
      reason: "SecretKeyNotFound",
      message:
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef named key url of Secret jude-redis when Job jobs-minilm-v1-bootstrap started (its shard pods read it), which has no such key",
    });
  });

  it("names the Job where no field of the pipeline or model reads the Secret any more", () => {
    const plain = testModel();
    const gone = {
      pipeline: testPipeline(),
      model: plain,
      siblings: [],
      secrets: keys({ "jude-redis": ["url"] }),
    };
    expect(missingShardSecret(job, gone)).toEqual({
      reason: "SecretNotFound",
      message:
        "the shard pods of Job jobs-minilm-v1-bootstrap read Secret jude-minilm-tls (volume serving-ca), which does not exist",
    });
  });

  it("takes a read the pod template marks optional as satisfied", () => {
    const optional = structuredClone(job);
    for (const env of optional.spec!.template.spec!.containers[0]!.env ?? [])
      if (env.valueFrom?.secretKeyRef) env.valueFrom.secretKeyRef.optional = true;
    expect(
      missingShardSecret(
        optional,
        surroundings(keys({ "jude-minilm-tls": ["tls.crt", "tls.key", "ca.crt"] })),
      ),
    ).toBeUndefined();
  });
});
