// Names the plugin puts into API paths. The client library joins them into the path as given and
// lower-cases the whole path: "." and ".." then resolve to another URL (`approve .` read the
// namespace's list as if it were a model and died on it; `-n ..` listed every namespace), and
// `approve MiniLM` would patch minilm. kubectl refuses "." and ".." (`invalid resource name`); a
// name no Kubernetes object or namespace can have is refused here too, before any request, rather
// than sent somewhere else.

/** RFC 1123 label: what a namespace name must be. */
const dns1123Label = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?";
const namespacePattern = new RegExp(`^${dns1123Label}$`);
/** RFC 1123 subdomain: what a custom resource's name must be. */
const objectNamePattern = new RegExp(`^${dns1123Label}(?:\\.${dns1123Label})*$`);

/** Why `namespace` cannot be a namespace's name; undefined when it can. */
export function invalidNamespace(namespace: string): string | undefined {
  if (namespace.length <= 63 && namespacePattern.test(namespace)) return undefined;
  return `invalid namespace ${JSON.stringify(namespace)}: a namespace is lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`;
}

/** Why `name` cannot be the name of an object of `kind` (a custom resource); undefined when it can. */
export function invalidObjectName(kind: string, name: string): string | undefined {
  if (name.length <= 253 && objectNamePattern.test(name)) return undefined;
  return `invalid ${kind} name ${JSON.stringify(name)}: a Kubernetes object's name is lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`;
}
