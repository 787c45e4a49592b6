/**
 * Parity of the resources and the worker configs rendered from them: for generated valid and invalid
 * values of every field both sides carry, the CRD schema and the worker config schema must agree.
 * A value the API server admits must start a worker; a value it refuses must not slip into one.
 */
import { describe, expect, it } from "vitest";
import { loadExample, type JsonObject } from "../test/fixtures/examples.ts";
import { bootstrapConfigSchema } from "../pipelines/bootstrap/config.ts";
import { nearlineConfigSchema } from "../pipelines/nearline/config.ts";
import { servingConfigSchema } from "../serving/config.ts";
import { bootstrapRunSpec } from "./bootstrap-run.ts";
import { embeddingModelSpec } from "./embedding-model.ts";
import { nearlinePipelineSpec } from "./nearline-pipeline.ts";
import { SeededRandom } from "../test/support/seeded-random.ts";

type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const digest = `sha256:${"ab".repeat(32)}`;

/**
 * Renders a nearline worker config the way the operator must: shared fields copied verbatim, Secret
 * references turned into the environment variables the Deployment sets. Written here independently of
 * any production renderer, from the documented mapping.
 */
function nearlineConfigOf(pipeline: Spec, model: Spec): unknown {
  const kafka = pipeline.source?.kafka ?? {};
  return {
    pipeline: { namespace: "jobs", name: "jobs" },
    entity: pipeline.entity,
    model: {
      version: model.version,
      digest,
      dimensions: model.model?.dimensions,
      template: model.prompts?.[pipeline.entity],
    },
    source: {
      kafka: {
        bootstrapServers: kafka.bootstrapServers,
        topic: kafka.topic,
        consumerGroup: `${kafka.consumerGroup ?? "jude.jobs.jobs"}.${model.version}`,
        ...(kafka.tls !== undefined ? { tls: { caFile: "/etc/jude/kafka/ca.crt" } } : {}),
        ...(kafka.sasl !== undefined
          ? {
              sasl: {
                mechanism: kafka.sasl.mechanism ?? "SCRAM-SHA-512",
                username: { env: "JUDE_KAFKA_USERNAME" },
                password: { env: "JUDE_KAFKA_PASSWORD" },
              },
            }
          : {}),
      },
    },
    decode: pipeline.decode,
    extract: pipeline.extract,
    changeDetection: pipeline.changeDetection,
    embedding: {
      endpoint: "jude-minilm-v1:50051",
      maxBatchSize: pipeline.workers?.maxBatchSize,
      maxInflight: pipeline.workers?.maxInflight,
    },
    sinks: {
      store: {
        name: pipeline.sinks?.store?.name,
        url: { env: "JUDE_STORE_URL" },
        cluster: pipeline.sinks?.store?.cluster,
        durability: pipeline.sinks?.store?.durability,
      },
      kafka: pipeline.sinks?.kafka,
      deadLetter: pipeline.sinks?.deadLetter,
    },
  };
}

/** A bootstrap shard config of a run, its pipeline and its model (same mapping rules). */
function bootstrapConfigOf(run: Spec, pipeline: Spec, model: Spec): unknown {
  const nearline = nearlineConfigOf(pipeline, model) as Spec;
  return {
    run: { namespace: "jobs", name: "jobs-bootstrap" },
    entity: nearline.entity,
    model: { ...nearline.model, version: run.modelVersion },
    source: {
      kafka: { bootstrapServers: nearline.source.kafka.bootstrapServers, topic: nearline.source.kafka.topic },
    },
    decode: nearline.decode,
    extract: nearline.extract,
    embedding: nearline.embedding,
    store: nearline.sinks.store,
    shards: { count: run.parallelism, index: 0 },
    scope: run.scope,
    dedupe: run.dedupe,
  };
}

/** A serving config of a model version. */
function servingConfigOf(model: Spec): unknown {
  return {
    modelDir: "/models",
    model: {
      version: model.version,
      digest,
      precision: model.model?.precision,
      pooling: model.model?.pooling,
      normalize: model.model?.normalize,
      maxSequenceLength: model.model?.maxSequenceLength,
      dimensions: model.model?.dimensions,
    },
    prompts: model.prompts,
    batching: model.serving?.batching,
  };
}

/** mulberry32 numbers in [0, 1) from `seed` (test/support/seeded-random.ts). */
function random(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.next();
}

/** Strings over `alphabet` (tokens may be longer than one character), many invalid, some valid. */
function strings(seed: number, alphabet: readonly string[], count: number, maxTokens: number): string[] {
  const next = random(seed);
  return Array.from({ length: count }, () => {
    const length = Math.floor(next() * (maxTokens + 1));
    return Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
  });
}

const jsonPaths = [
  "$.title",
  "$.company.name",
  "$.skills[*].name",
  "$.a[12]",
  ...strings(1, ["$", ".", "a", "Z", "_", "-", "7", "[", "]", "*", "[*]", "[0]", ".x", " ", "é"], 300, 8),
  ...strings(2, ["$", ".t", ".b-c", "[*]", "[3]", "[1234567]", ".", "[", "x"], 200, 5).map(
    (path) => `$${path}`,
  ),
];
const fieldNames = ["title", "_x", "A9", ...strings(3, ["a", "Z", "_", "9", "-", ".", " "], 150, 6)];
const templates = [
  "Job: {{title}}",
  "{{ title }} at {{company}}",
  ...strings(
    4,
    ["{{title}}", "{{ a_b }}", "{", "}", "{{", "}}", "x", " ", ".", "-", "{{a.b}}", "{{a-b}}"],
    300,
    6,
  ),
];
const topics = [
  "jobs.changelog",
  "a",
  "x".repeat(249),
  "x".repeat(250),
  ...strings(5, ["a", "Z", ".", "_", "-", "/", " ", "#"], 150, 5),
];
const dnsNames = [
  "job",
  "member-profile",
  "x".repeat(63),
  "x".repeat(64),
  ...strings(6, ["a", "0", "-", "A", ".", "_"], 150, 6),
];
const integers = [
  -1,
  0,
  1,
  2,
  3,
  5,
  64,
  100,
  256,
  257,
  4096,
  4097,
  10_000,
  10_001,
  100_000,
  100_001,
  1048576,
  1048577,
  1.5,
  "8",
];
const brokers = [
  "kafka:9092",
  "[::1]:9092",
  "10.0.0.1:9092",
  "kafka",
  ...strings(7, ["k", ".", ":", "9", "-", " ", "/"], 100, 7),
];

/** Sets a value at a dotted path inside a copy of `object` (path segments may not contain dots). */
function withValue(object: JsonObject, path: string, value: unknown): Spec {
  const copy = structuredClone(object) as Spec;
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys.at(-1)!] = value;
  return copy;
}

const pipelineBase = loadExample("nearline-pipeline-jobs.yaml").spec as JsonObject;
const modelBase = loadExample("embedding-model.yaml").spec as JsonObject;
const runBase = loadExample("bootstrap-run.yaml").spec as JsonObject;

function agreement(
  crdOk: boolean,
  workerOk: boolean,
  what: string,
): { what: string; crdOk: boolean; workerOk: boolean } {
  return { what, crdOk, workerOk };
}

describe("NearlinePipeline + EmbeddingModel -> nearline worker config", () => {
  const cases: [string, readonly unknown[]][] = [
    ["decode.keyPath", jsonPaths],
    ["decode.eventTimePath", jsonPaths],
    ["decode.delete.path", jsonPaths],
    ["extract.title", jsonPaths],
    ["source.kafka.topic", topics],
    ["sinks.kafka.topic", topics],
    ["sinks.deadLetter.topic", [...topics, "jobs.changelog"]],
    ["sinks.store.name", dnsNames],
    ["sinks.store.cluster", [true, false, "true", 1, null]],
    ["sinks.store.durability.replicas", integers],
    ["sinks.store.durability.timeoutMs", integers],
    ["sinks.store.durability.fsync", [true, false, "yes", 1]],
    ["sinks.store.durability", [{}, null, "always", { replicas: 1, wait: true }]],
    ["workers.maxBatchSize", integers],
    ["workers.maxInflight", integers],
    ["entity", dnsNames],
  ];

  it("has admitted examples that render to valid worker configs", () => {
    expect(nearlinePipelineSpec.safeParse(pipelineBase).success).toBe(true);
    expect(nearlineConfigSchema.safeParse(nearlineConfigOf(pipelineBase, modelBase)).error).toBeUndefined();
  });

  it.each(cases)("agrees on every generated %s", (path, values) => {
    const disagreements = values.flatMap((value) => {
      const pipeline = withValue(pipelineBase, path, value);
      // The model's prompt follows the entity, as the operator selects it by the pipeline's entity.
      const model = { ...modelBase, prompts: { [String(pipeline.entity)]: (modelBase.prompts as Spec).job } };
      const crdOk = nearlinePipelineSpec.safeParse(pipeline).success;
      const workerOk = nearlineConfigSchema.safeParse(nearlineConfigOf(pipeline, model)).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, JSON.stringify(value))];
    });
    expect(disagreements).toEqual([]);
  });

  it("agrees on extracted field names and sets of fields", () => {
    const disagreements = fieldNames.flatMap((name) => {
      const pipeline = withValue(pipelineBase, "extract", { [name]: "$.title" });
      const crdOk = nearlinePipelineSpec.safeParse(pipeline).success;
      const workerOk = nearlineConfigSchema.safeParse(nearlineConfigOf(pipeline, modelBase)).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, name)];
    });
    expect(disagreements).toEqual([]);
    const empty = withValue(pipelineBase, "extract", {});
    expect(nearlinePipelineSpec.safeParse(empty).success).toBe(false);
    expect(nearlineConfigSchema.safeParse(nearlineConfigOf(empty, modelBase)).success).toBe(false);
  });

  it("agrees on every generated prompt template and model field", () => {
    const disagreements = [
      ...templates.map((template) => ["prompts.job", template] as const),
      ...dnsNames.map((version) => ["version", version] as const),
      ...integers.map((dimensions) => ["model.dimensions", dimensions] as const),
    ].flatMap(([path, value]) => {
      const model = withValue(modelBase, path, value);
      const crdOk = embeddingModelSpec.safeParse(model).success;
      const workerOk = nearlineConfigSchema.safeParse(nearlineConfigOf(pipelineBase, model)).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, `${path}=${JSON.stringify(value)}`)];
    });
    expect(disagreements).toEqual([]);
  });

  it("agrees on brokers and on SASL PLAIN without TLS", () => {
    const variants: Spec[] = [
      ...brokers.map((broker) => withValue(pipelineBase, "source.kafka.bootstrapServers", [broker])),
      withValue(pipelineBase, "source.kafka.sasl", {
        mechanism: "PLAIN",
        usernameSecretRef: { name: "kafka", key: "user" },
        passwordSecretRef: { name: "kafka", key: "password" },
      }),
    ];
    variants.push(withValue(variants.at(-1)!, "source.kafka.tls", {}));
    const disagreements = variants.flatMap((pipeline) => {
      const crdOk = nearlinePipelineSpec.safeParse(pipeline).success;
      const workerOk = nearlineConfigSchema.safeParse(nearlineConfigOf(pipeline, modelBase)).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, JSON.stringify(pipeline.source))];
    });
    expect(disagreements).toEqual([]);
  });
});

describe("BootstrapRun (+ pipeline, model) -> bootstrap shard config", () => {
  const cases: [string, readonly unknown[]][] = [
    ["parallelism", integers],
    ["modelVersion", dnsNames],
    ["dedupe", [true, false, "yes", 1]],
    ["scope.eventTimeFrom", ["2026-01-01T00:00:00Z", "2026-01-01", "yesterday", "2027-01-01T00:00:00+02:00"]],
    ["scope.ids", [["a"], [], [""], Array.from({ length: 1001 }, (_, index) => String(index))]],
  ];

  it.each(cases)("agrees on every generated %s", (path, values) => {
    const disagreements = values.flatMap((value) => {
      const run = withValue({ ...runBase, scope: { eventTimeTo: "2026-06-01T00:00:00Z" } }, path, value);
      const crdOk = bootstrapRunSpec.safeParse(run).success;
      const workerOk = bootstrapConfigSchema.safeParse(
        bootstrapConfigOf(run, pipelineBase, modelBase),
      ).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, JSON.stringify(value))];
    });
    expect(disagreements).toEqual([]);
  });

  it("agrees on the pipeline's decode and extract paths", () => {
    const disagreements = jsonPaths.flatMap((path) => {
      const pipeline = withValue(pipelineBase, "extract.title", path);
      const crdOk = nearlinePipelineSpec.safeParse(pipeline).success;
      const workerOk = bootstrapConfigSchema.safeParse(
        bootstrapConfigOf(runBase, pipeline, modelBase),
      ).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, path)];
    });
    expect(disagreements).toEqual([]);
  });
});

describe("EmbeddingModel -> serving config", () => {
  const cases: [string, readonly unknown[]][] = [
    ["serving.batching.maxBatchTokens", integers],
    ["serving.batching.maxBatchSize", integers],
    ["serving.batching.maxQueueDelayMs", integers],
    ["serving.batching.maxConcurrentRequests", integers],
    ["prompts.job", templates],
    ["version", dnsNames],
    ["model.pooling", ["mean", "cls", "last-token", "max"]],
    ["model.precision", ["fp32", "fp16", "int8", "int4"]],
    ["model.maxSequenceLength", integers],
  ];

  it.each(cases)("agrees on every generated %s", (path, values) => {
    const disagreements = values.flatMap((value) => {
      const model = withValue(modelBase, path, value);
      const crdOk = embeddingModelSpec.safeParse(model).success;
      const workerOk = servingConfigSchema.safeParse(servingConfigOf(model)).success;
      return crdOk === workerOk ? [] : [agreement(crdOk, workerOk, JSON.stringify(value))];
    });
    expect(disagreements).toEqual([]);
  });

  it("defaults batching exactly as the resource does", () => {
    const withoutBatching = withValue(modelBase, "serving.batching", undefined);
    const crd = embeddingModelSpec.parse(withoutBatching);
    const served = servingConfigSchema.parse(servingConfigOf(withoutBatching));
    expect(served.batching).toEqual(crd.serving.batching);
  });
});
