// The embedding versions a pipeline runs workers for, resolved from its EmbeddingModel into exactly
// what a worker needs: model digest, dimensions, prompt templates and the version's serving endpoint.
import type { EmbeddingModel } from "../../crds/index.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { servingName } from "../shared/names.ts";

/** gRPC port of every version's serving Service (the `jude serve` default, kept by the Service). */
export const servingGrpcPort = 50051;

/** One live embedding version, resolved. */
export interface LiveVersion {
  version: string;
  /** `sha256:<hex>` of the model file; workers refuse vectors from a server reporting another. */
  modelDigest: string;
  dimensions: number;
  /** Prompt template per entity, as the version's EmbeddingModel spec had them. */
  prompts: Readonly<Record<string, string>>;
  /** host:port of the version's serving Service. */
  endpoint: string;
  /** Offsets per partition a new version's workers start from (captured for its bootstrap). */
  startOffsets?: readonly PartitionWatermark[] | undefined;
}

/** Result of resolving a model's live versions: those ready to render, and those still waiting. */
export interface ResolvedVersions {
  versions: LiveVersion[];
  /** Versions that cannot be rendered yet, with the reason (e.g. the digest is not known). */
  waiting: { version: string; reason: string }[];
}

/**
 * The live versions of `model` that this milestone resolves: `spec.version`, whose model and prompts
 * are in the spec. Its digest comes from the model's status (what serving verified) or else from
 * `spec.model.sha256`; without either the version waits. Promotion adds the previous version, whose
 * spec it keeps, by passing more LiveVersions to the same builders.
 */
export function resolveLiveVersions(model: EmbeddingModel): ResolvedVersions {
  const version = model.spec.version;
  const observed = model.status?.versions?.find((entry) => entry.version === version);
  const digestHex = observed?.modelDigest ?? model.spec.model.sha256;
  if (digestHex === undefined) {
    return {
      versions: [],
      waiting: [
        {
          version,
          reason: `EmbeddingModel ${model.metadata.name} has not reported the model digest of version ${version} yet (set spec.model.sha256 to pin it)`,
        },
      ],
    };
  }
  return {
    versions: [
      {
        version,
        modelDigest: `sha256:${digestHex}`,
        dimensions: model.spec.model.dimensions,
        prompts: model.spec.prompts,
        endpoint: observed?.endpoint ?? `${servingName(model.metadata.name, version)}:${servingGrpcPort}`,
      },
    ],
    waiting: [],
  };
}
