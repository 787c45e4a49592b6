// Where a version's model and tokenizer come from, and how a pod reaches them. pvc://claim/path mounts
// the claim read-only; file:// is a path in the image (or a mount); https:// is downloaded. The model
// file is always copied into the pod's model volume by `jude fetch-model`, which verifies its sha256,
// when a sha256 is given (always for https://); without one (file/pvc only) it is read in place.
// A tar archive (.tar, .tar.gz, .tgz) is a whole model directory with its own jude-model.json.
import type { EmbeddingModel } from "../../crds/index.ts";

/** Where the pod's model directory (the server's modelDir) is mounted. */
export const modelDir = "/models";
/** Where each referenced claim is mounted, one folder per claim. */
export const claimMountRoot = "/jude/pvc";

/** One artifact location as the pod sees it. */
export interface ArtifactLocation {
  /** The URI as the spec gives it. */
  uri: string;
  /** The claim to mount (pvc:// only). */
  claim?: string;
  /** A URI `jude fetch-model` can read inside the pod: https:// as is, file:// for mounts and image paths. */
  fetchUri: string;
  /** The absolute path of the artifact inside the pod when it is read in place (file://, pvc://). */
  localPath?: string;
}

/** Parses an artifact URI of the spec (already validated by the CRD pattern). */
export function locateArtifact(uri: string): ArtifactLocation {
  const pvc = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (pvc !== null) {
    const localPath = `${claimMountRoot}/${pvc[1]}/${pvc[2]}`;
    return { uri, claim: pvc[1], fetchUri: `file://${localPath}`, localPath };
  }
  if (uri.startsWith("file://")) return { uri, fetchUri: uri, localPath: uri.slice("file://".length) };
  return { uri, fetchUri: uri };
}

/** True when the URI names a tar archive of a model directory. */
export function isArchive(uri: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/.test(withoutQuery(uri));
}

/** The URI without its query and fragment: what names the artifact's file. */
function withoutQuery(uri: string): string {
  return uri.replace(/[?#].*$/, "");
}

/** The tokenizer's URI: the spec's, or tokenizer.json beside the model. */
export function tokenizerUri(model: Pick<EmbeddingModel["spec"]["model"], "uri" | "tokenizerUri">): string {
  return model.tokenizerUri ?? withoutQuery(model.uri).replace(/[^/]+$/, "tokenizer.json");
}

/** The model sources of a spec: model, tokenizer (absent for archives) and the claims to mount. */
export interface ModelSources {
  model: ArtifactLocation;
  tokenizer: ArtifactLocation | undefined;
  archive: boolean;
  claims: string[];
}

/** Resolves where the model and tokenizer of a spec come from. */
export function modelSources(model: EmbeddingModel["spec"]["model"]): ModelSources {
  const archive = isArchive(model.uri);
  const located = locateArtifact(model.uri);
  const tokenizer = archive ? undefined : locateArtifact(tokenizerUri(model));
  const claims = [located.claim, tokenizer?.claim].filter((claim): claim is string => claim !== undefined);
  return { model: located, tokenizer, archive, claims: [...new Set(claims)] };
}

/**
 * `text` (a serving pod's words: a failed fetch or load) with the in-pod path of each file read from a
 * claim named by its spec.model URI (`pvc://claim/path`), as the user wrote it, not the mount path.
 */
export function inSpecTerms(
  text: string,
  model: Pick<EmbeddingModel["spec"]["model"], "uri" | "tokenizerUri">,
): string {
  return [model.uri, tokenizerUri(model)].reduce((said, uri) => {
    const { localPath, claim, fetchUri } = locateArtifact(uri);
    // fetch-model is given the file as a file:// URI (and names it so: a digest mismatch).
    return claim === undefined || localPath === undefined
      ? said
      : said.split(fetchUri).join(uri).split(localPath).join(uri);
  }, text);
}

/** The file name of the model inside the model volume when it is copied there. */
export const copiedModelFile = "model.onnx";

/**
 * Path of an artifact relative to the model directory, as jude-model.json names files: the copy in
 * the volume, or the in-place path reached from /models through "..".
 */
export function manifestPath(location: ArtifactLocation, copied: boolean): string {
  if (copied) return copiedModelFile;
  if (location.localPath === undefined) throw new Error(`${location.uri} cannot be read in place`);
  return `..${location.localPath}`;
}
