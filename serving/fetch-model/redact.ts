/**
 * A URI as fetch-model may print it: scheme, host and path. The query (where signed URLs carry their
 * signature) becomes "?…" and user:password@ is dropped; an unparseable URI is not quoted at all,
 * since it may still hold a credential.
 */
export function redactUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "(an unparseable URI)";
  }
  return `${url.protocol}//${url.host}${url.pathname}${url.search === "" ? "" : "?…"}`;
}

/** Whether two URIs name the same artifact: the same scheme, host and path, whatever their queries. */
export function sameArtifact(a: string, b: string): boolean {
  const strip = (uri: string): string => redactUri(uri).replace(/\?…$/, "");
  return strip(a) === strip(b);
}
