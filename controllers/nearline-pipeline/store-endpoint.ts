// Where a pipeline's store lives, from the Redis URL in its store Secret, for telling whether two
// pipelines of one model write to the same store: the same store name on another server or database
// is another store, which the model never flips or bootstraps. Credentials are left out (pipelines may
// reach one store as different users) and never reach a status message.

/**
 * `redis://host:port/db` of a store URL: host lowercased, port 6379 and database 0 when unset, TLS or
 * not alike. Undefined when the URL cannot be parsed (the worker reports that itself). URLs naming one
 * server in two ways (an IP and a DNS name) differ here: name it the same way in every Secret.
 */
export function storeEndpoint(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return undefined;
  const db = parsed.pathname.replace(/^\/+/, "") || "0";
  return `redis://${parsed.hostname.toLowerCase()}:${parsed.port || "6379"}/${db}`;
}
