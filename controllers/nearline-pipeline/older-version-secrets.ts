// The Secrets an older version's workers mount. During a promotion (and the bake after it) a pipeline
// runs workers for the version readers use as well as the new one, each rendered from its version
// record (live-versions.ts), which may name another serving TLS Secret (its ca.crt) or token Secret
// than today's spec; the spec's are all the stall causes check (stall-causes.ts). One missing leaves
// that version's running workers working, but a worker that stops cannot start again (a missing Secret
// volume holds it in ContainerCreating). It holds nothing back (the new version's workers, the
// promotion that may be its cure): it is said after the pipeline's verdict and in one Warning Event,
// as the EmbeddingModel says it of its serving pods (embedding-model/older-version-references.ts). So
// is a Secret of the spec's own version that its record names and the spec does not (VersionRedefined).
// Pure.
import { isDeepStrictEqual } from "node:util";
import type { EmbeddingModel } from "../../crds/index.ts";
import type { ReferenceLookup } from "../embedding-model/blockers.ts";
import {
  olderVersionProblem,
  withProblemsSaid,
  type OlderVersionPods,
  type OlderVersionProblem,
} from "../embedding-model/older-version-references.ts";
import type { Reference } from "../embedding-model/references.ts";
import type { Kstatus } from "../shared/conditions.ts";
import type { LiveVersion } from "./live-versions.ts";

const workers: OlderVersionPods = { plural: "workers", singular: "worker", going: "working" };

/** The Secrets the workers of a version mount, from its record (or the spec's serving). */
function workerReferences({ tls, auth }: Pick<LiveVersion["serving"], "tls" | "auth">): Reference[] {
  const references: Reference[] = [];
  // The whole Secret must exist; its ca.crt need not (without one the workers trust the system roots).
  if (tls !== undefined)
    references.push({ kind: "Secret", name: tls.secretName, field: "spec.serving.tls.secretName" });
  if (auth !== undefined) {
    const { name, key } = auth.tokenSecretRef;
    references.push({ kind: "Secret", name, keys: [key], field: "spec.serving.auth.tokenSecretRef" });
  }
  return references;
}

/**
 * What of `version`'s workers the stall causes do not check: all of an older version's; of the spec's
 * version, what its record names and the spec does not (VersionRedefined: it runs as its record says).
 */
function uncheckedReferences(model: EmbeddingModel, version: LiveVersion): Reference[] {
  const references = workerReferences(version.serving);
  if (version.version !== model.spec.version) return references;
  const checked = workerReferences(model.spec.serving);
  return references.filter((reference) => !checked.some((named) => isDeepStrictEqual(named, reference)));
}

/** The names of the Secrets of `versions`' workers that the stall causes do not check (to read them). */
export function olderVersionSecretNames(model: EmbeddingModel, versions: readonly LiveVersion[]): string[] {
  const names = versions
    .flatMap((version) => uncheckedReferences(model, version))
    .map((reference) => reference.name);
  return [...new Set(names)];
}

/**
 * What the workers of `versions` need and cannot find, of what the stall causes do not check
 * (uncheckedReferences); `secrets` maps each existing Secret read to its key names.
 */
export function olderVersionSecretProblems(
  model: EmbeddingModel,
  versions: readonly LiveVersion[],
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
): OlderVersionProblem[] {
  return versions.flatMap((version) =>
    uncheckedReferences(model, version).flatMap((reference) => {
      const keys = secrets.get(reference.name);
      const lookup: ReferenceLookup =
        keys === undefined ? { found: false } : { found: true, keys: [...keys] };
      return olderVersionProblem(version.version, reference, lookup, workers) ?? [];
    }),
  );
}

/**
 * The verdict with `problems` said after its message (so in the Ready, Reconciling and Stalled
 * conditions, within their cap: withProblemsSaid), its state and reason unchanged.
 */
export function withOlderVersionSecretProblems(
  verdict: Kstatus,
  problems: readonly OlderVersionProblem[],
): Kstatus {
  if (problems.length === 0) return verdict;
  return { ...verdict, message: withProblemsSaid(verdict.message, problems) };
}
