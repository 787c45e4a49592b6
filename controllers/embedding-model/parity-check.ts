// The parity gate's measurement: a sample of the candidate's stored vectors is re-embedded through the
// candidate's own Service and compared. The text of a sampled key is recomputed from its source: each
// record's metadata keeps the changelog position (partition, offset) of the event it was computed
// from, so the operator fetches exactly that event, decodes, extracts and renders it with the
// version's prompt template as the workers did, and checks the rendered text's content hash equals
// the stored one (proof it is the same text; a key rewritten since is skipped, not failed). The text
// cache cannot serve here: it maps text hashes to vectors and keeps no text. Vectors must agree in
// dimensions, model digest, norm (when the model normalises) and cosine >= parityMinCosine.
import type { NearlinePipeline } from "../../crds/index.ts";
import { KafkaRangeReader } from "../../pipelines/bootstrap/kafka-range.ts";
import { createDecoder } from "../../pipelines/shared/decode.ts";
import { createEntityTextRenderer } from "../../pipelines/shared/entity-text.ts";
import { EmbeddingClient } from "../../pipelines/embedding-client/client.ts";
import { bucketKeys, decodeMeta, decodePayload, liveBuckets, type Store } from "../../store/index.ts";
import { kafkaOptions } from "../bootstrap-run/run-io.ts";
import { decodeConfig } from "../nearline-pipeline/config-sections.ts";
import type { SecretValues } from "../nearline-pipeline/secret-reader.ts";
import { compareVectors, type ParitySample } from "./parity.ts";
import type { ParityObservation } from "./promotion-gates.ts";
import type { RecordedSpec } from "./version-record.ts";

/** What a parity measurement needs. */
export interface ParityTarget {
  store: Store;
  version: string;
  spec: RecordedSpec;
  /** `sha256:<hex>` the candidate's vectors and server must carry. */
  modelDigest: string;
  /** host:port of the candidate's gRPC Service. */
  endpoint: string;
  token?: string | undefined;
  /** ca.crt of the candidate's TLS Secret: the serving certificate's private CA (cert-manager's, say). */
  servingCa?: Buffer | undefined;
  pipelines: readonly NearlinePipeline[];
  secrets: SecretValues;
  /** Keys to sample. */
  sampleSize: number;
  signal: AbortSignal;
}

/** Samples keys of the candidate, recomputes their vectors and compares. */
export async function measureParity(target: ParityTarget): Promise<ParityObservation> {
  const samples = await sampleStoredVectors(target);
  const byPipeline = new Map<NearlinePipeline, StoredSample[]>();
  for (const sample of samples) {
    const pipeline = target.pipelines.find((entry) => entry.spec.entity === sample.entity);
    if (pipeline === undefined || sample.partition < 0) continue;
    byPipeline.set(pipeline, [...(byPipeline.get(pipeline) ?? []), sample]);
  }
  const compared: ParitySample[] = [];
  const client = parityClient(target);
  try {
    for (const [pipeline, pipelineSamples] of byPipeline) {
      const texts = await sourceTexts(target, pipeline, pipelineSamples);
      const ready = pipelineSamples.filter((sample) => texts.has(sample.field));
      if (ready.length === 0) continue;
      const answer = await client.embed(
        ready.map((sample) => texts.get(sample.field)!),
        { truncate: true, signal: target.signal },
      );
      ready.forEach((sample, index) =>
        compared.push({
          key: sample.field,
          stored: sample.vector,
          storedDigest: sample.digest,
          recomputed: answer.vectors[index]!,
          serverDigest: answer.model.digest,
        }),
      );
    }
  } finally {
    client.close();
  }
  return compareVectors(compared, {
    modelDigest: target.modelDigest,
    dimensions: target.spec.model.dimensions,
    normalized: target.spec.model.normalize,
  });
}

/**
 * The client of the candidate's Service, as its pipeline workers connect: over TLS when the version
 * serves TLS, trusting the Secret's ca.crt (system roots only without one), with the bearer token.
 */
export function parityClient(
  target: Pick<ParityTarget, "endpoint" | "spec" | "token" | "servingCa">,
): EmbeddingClient {
  return new EmbeddingClient({
    address: target.endpoint,
    deadlineMs: 20_000,
    ...(target.spec.serving.tls !== undefined
      ? { tls: target.servingCa !== undefined ? { ca: target.servingCa } : true }
      : {}),
    ...(target.token !== undefined ? { token: target.token } : {}),
  });
}

export interface StoredSample {
  field: string;
  entity: string;
  partition: number;
  offset: number;
  contentHash: string;
  vector: Float32Array;
  digest: string;
}

/**
 * Random live records of the version: HRANDFIELD within the buckets whose `live` counter says they hold
 * records, in random order, two keys a bucket, then more from each while the sample is short. Buckets
 * picked at random among all B would mostly be empty in a small store (5 records in 1,024 buckets gave
 * 1 sampled key or none), leaving the gate unmeasured or measured on one key.
 */
export async function sampleStoredVectors(
  target: Pick<ParityTarget, "store" | "version" | "sampleSize">,
): Promise<StoredSample[]> {
  const { store, version, sampleSize } = target;
  const buckets = shuffled(await liveBuckets(store, version));
  const samples = new Map<string, StoredSample>();
  for (const perBucket of [2, sampleSize]) {
    for (const bucket of buckets) {
      if (samples.size >= sampleSize) break;
      const keys = bucketKeys(store.layout, version, bucket);
      const wanted = Math.min(perBucket, sampleSize - samples.size);
      const fields = ((await store.client.hrandfield(keys.data, wanted)) as string[] | null) ?? [];
      for (const field of fields) {
        if (samples.has(field) || samples.size >= sampleSize) continue;
        const [metaText, payload] = await Promise.all([
          store.client.hget(keys.meta, field),
          store.client.hgetBuffer(keys.data, field),
        ]);
        if (metaText === null || payload === null) continue;
        const meta = decodeMeta(metaText);
        if (!meta.live) continue;
        const decoded = decodePayload(payload);
        const separator = field.indexOf(":");
        samples.set(field, {
          field,
          entity: field.slice(0, separator),
          partition: meta.partition,
          offset: Number(meta.offset),
          contentHash: meta.contentHash,
          vector: decoded.vector,
          digest: decoded.modelDigest,
        });
      }
    }
  }
  return [...samples.values()];
}

function shuffled<T>(items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}

/** The rendered text of each sample whose source event still renders to the stored content hash. */
async function sourceTexts(
  target: ParityTarget,
  pipeline: NearlinePipeline,
  samples: readonly StoredSample[],
): Promise<Map<string, string>> {
  const spec = pipeline.spec;
  // The workers' rules, without the event-time bound: a stored sample passed it when it was written.
  const decode = createDecoder({ ...decodeConfig(pipeline), maxEventTimeAheadSeconds: undefined });
  const template = target.spec.prompts[spec.entity];
  if (template === undefined) return new Map();
  const render = createEntityTextRenderer({
    extract: { ...spec.extract },
    template,
    modelVersion: target.version,
  });
  const reader = new KafkaRangeReader(kafkaOptions(pipeline, target.secrets), spec.source.kafka.topic, {
    signal: target.signal,
  });
  const texts = new Map<string, string>();
  try {
    for (const sample of samples) {
      for await (const batch of reader.read(sample.partition, sample.offset, sample.offset + 1)) {
        const record = batch.find((entry) => Number(entry.offset) === sample.offset);
        if (record === undefined) continue;
        const decoded = decode(record);
        if (!decoded.ok || decoded.change.op !== "upsert") continue;
        const rendered = render(decoded.change.document);
        if (rendered.hash === sample.contentHash) texts.set(sample.field, rendered.text);
      }
    }
  } finally {
    await reader.close();
  }
  return texts;
}
