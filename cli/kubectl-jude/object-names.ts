// Names the plugin puts into API paths. The client library joins them into the path as given and
// lower-cases the whole path: "." and ".." then resolve to another URL (`approve .` read the
// namespace's list as if it were a model and died on it; `-n ..` listed every namespace), and
// `approve MiniLM` would patch minilm. kubectl refuses "." and ".." (`invalid resource name`); a
// name no namespace or JUDE object can have is refused here too, before any request, rather than
// sent somewhere else. The rules are the API server's and the CRDs' own, so that every name an
// object can have is accepted.
import { objectNameRule } from "../../crds/common.ts";
import { dnsLabelPattern } from "../../crds/patterns.ts";

/** Why `namespace` cannot be a namespace's name (an RFC 1123 label); undefined when it can. */
export function invalidNamespace(namespace: string): string | undefined {
  if (namespace.length <= 63 && dnsLabelPattern.test(namespace)) return undefined;
  return `invalid namespace ${JSON.stringify(namespace)}: a namespace is lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`;
}

/**
 * Why `name` cannot be an EmbeddingModel's; undefined when it can. The API server takes an RFC 1123
 * subdomain of at most 253 characters; the CRD's rule (objectNameRule) refuses its dots.
 */
export function invalidModelName(name: string): string | undefined {
  if (name.length <= 253 && objectNameRule.pattern.test(name)) return undefined;
  return `invalid EmbeddingModel name ${JSON.stringify(name)}: an EmbeddingModel's name is lowercase letters, digits and '-' (no dots), starting and ending with a letter or digit, at most 253 characters`;
}
