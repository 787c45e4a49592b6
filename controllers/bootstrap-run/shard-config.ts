// The config file of a BootstrapRun's shards (`jude bootstrap --config`), rendered from the run, its
// NearlinePipeline, the EmbeddingModel and the version being filled; the shard's own schema validates
// it. Every shard gets the same file and learns its index from JOB_COMPLETION_INDEX.
import type { V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { z } from "zod";
import type { BootstrapRun, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import type { bootstrapConfigSchema } from "../../pipelines/bootstrap/config.ts";
import {
  decodeConfig,
  embeddingConfig,
  kafkaConnectionConfig,
  modelConfig,
  storeConfig,
  type SecretKeyNames,
} from "../nearline-pipeline/config-sections.ts";
import type { LiveVersion } from "../nearline-pipeline/live-versions.ts";
import type { SecretWiring } from "../shared/secret-wiring.ts";

/** Input of `jude bootstrap --config`, as the shard's schema reads it. */
export type BootstrapConfigInput = z.input<typeof bootstrapConfigSchema>;

/** Where a `pvc://claim/path` source's claim is mounted (read-only) in shard containers. */
export const claimMountRoot = "/var/run/jude/pvc";

/** Volumes for the PersistentVolumeClaims that `pvc://` file URIs name. */
export interface ClaimMounts {
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
}

/**
 * Rewrites `pvc://claim/path` into the file URI of the mounted claim and collects one read-only
 * volume per claim; https:// and file:/// URIs pass unchanged.
 */
export function resolveFileUris(uris: readonly string[]): { uris: string[]; claims: ClaimMounts } {
  const claims = new Map<string, string>();
  const resolved = uris.map((uri) => {
    const match = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (match === null) return uri;
    const [, claim, path] = match as unknown as [string, string, string];
    if (!claims.has(claim)) claims.set(claim, `pvc-${claims.size}`);
    return `file://${claimMountRoot}/${claim}/${path}`;
  });
  const entries = [...claims.entries()];
  return {
    uris: resolved,
    claims: {
      volumes: entries.map(([claim, volume]) => ({
        name: volume,
        persistentVolumeClaim: { claimName: claim, readOnly: true },
      })),
      volumeMounts: entries.map(([claim, volume]) => ({
        name: volume,
        mountPath: `${claimMountRoot}/${claim}`,
        readOnly: true,
      })),
    },
  };
}

function sourceConfig(
  run: BootstrapRun,
  pipeline: NearlinePipeline,
  wiring: SecretWiring,
  fileUris: readonly string[],
): BootstrapConfigInput["source"] {
  if (run.spec.source.files !== undefined) return { files: { uris: [...fileUris], split: "auto" } };
  const watermarks = run.status?.watermarks;
  if (watermarks === undefined)
    throw new Error(`BootstrapRun ${run.metadata.name}: watermarks must be captured before its shards run`);
  return {
    kafka: {
      ...kafkaConnectionConfig(pipeline, wiring),
      topic: watermarks.topic,
      watermarks: watermarks.partitions.map(({ partition, offset }) => ({ partition, offset })),
    },
  };
}

/**
 * How the shards' config is rendered: `runUid: false` leaves the run's uid out, as releases before it
 * rendered the config (a Job one of them started, whose shards' checkpoints are fingerprinted without it).
 */
export interface ShardConfigOptions {
  runUid?: boolean;
  /**
   * `false` leaves the model's vector settings out, as releases before them rendered the config (a Job
   * one of them started, whose shards' checkpoints are fingerprinted without them).
   */
  vectorSettings?: boolean;
  /** The key names of the Secrets as read: whether the serving TLS Secret has a ca.crt to mount. */
  secretKeys?: SecretKeyNames;
}

/** Renders the shards' config; secrets are registered on `wiring`, file URIs already resolved. */
export function desiredShardConfig(
  objects: { run: BootstrapRun; pipeline: NearlinePipeline; model: EmbeddingModel; version: LiveVersion },
  wiring: SecretWiring,
  fileUris: readonly string[],
  options: ShardConfigOptions = {},
): BootstrapConfigInput {
  const { run, pipeline, version } = objects;
  const scope = run.spec.scope;
  const uid = options.runUid === false ? undefined : run.metadata.uid;
  const { vectorSettings, ...model } = modelConfig(version, pipeline.spec.entity);
  return {
    run: {
      namespace: run.metadata.namespace ?? "default",
      name: run.metadata.name,
      ...(uid !== undefined ? { uid } : {}),
    },
    entity: pipeline.spec.entity,
    model:
      options.vectorSettings === false || vectorSettings === undefined ? model : { ...model, vectorSettings },
    source: sourceConfig(run, pipeline, wiring, fileUris),
    decode: decodeConfig(pipeline),
    extract: { ...pipeline.spec.extract },
    embedding: embeddingConfig(pipeline, version, wiring, options.secretKeys),
    store: storeConfig(pipeline, wiring),
    shards: { count: run.spec.parallelism },
    scope: {
      ...(scope?.ids !== undefined ? { ids: [...scope.ids] } : {}),
      ...(scope?.eventTimeFrom !== undefined ? { eventTimeFrom: scope.eventTimeFrom } : {}),
      ...(scope?.eventTimeTo !== undefined ? { eventTimeTo: scope.eventTimeTo } : {}),
    },
    dedupe: run.spec.dedupe,
  };
}
