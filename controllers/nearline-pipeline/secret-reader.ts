// Reads the Secrets a resource references with live GETs (the operator does not list or watch
// Secrets cluster-wide). Values stay in memory: only the reconcilers that must connect somewhere
// themselves (checkpoints, watermarks) use them; the builders only see names and keys.
import type { ControllerClient, KubeObject } from "../../operator/runtime/types.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";

/** Existing Secrets by name: key -> decoded value. A missing Secret is absent. */
export type SecretValues = ReadonlyMap<string, ReadonlyMap<string, Buffer>>;

/** Secrets as read, with each one's resourceVersion (which changes with every write of the Secret). */
export type ReadSecrets = SecretValues & { readonly versions: ReadonlyMap<string, string> };

/** Reads the named Secrets of `namespace`. */
export async function readSecrets(
  client: ControllerClient,
  namespace: string,
  names: Iterable<string>,
): Promise<ReadSecrets> {
  const versions = new Map<string, string>();
  const result = Object.assign(new Map<string, Map<string, Buffer>>(), { versions });
  for (const name of new Set(names)) {
    const secret = await client.getLive<
      KubeObject & { data?: Record<string, string>; stringData?: Record<string, string> }
    >(resourceTypes.secret, {
      namespace,
      name,
    });
    if (secret === undefined) continue;
    const values = new Map<string, Buffer>();
    for (const [key, value] of Object.entries(secret.data ?? {}))
      values.set(key, Buffer.from(value, "base64"));
    for (const [key, value] of Object.entries(secret.stringData ?? {})) values.set(key, Buffer.from(value));
    result.set(name, values);
    versions.set(name, secret.metadata?.resourceVersion ?? "");
  }
  return result;
}

/** The key names of each Secret, the form the stall decisions take. */
export function secretKeys(secrets: SecretValues): Map<string, Set<string>> {
  return new Map([...secrets].map(([name, values]) => [name, new Set(values.keys())]));
}

/**
 * `secrets` with those of `names` it lacks read too (a missing one stays absent): an older live
 * version's record may name a serving TLS Secret the spec no longer does.
 */
export async function withSecrets(
  client: ControllerClient,
  namespace: string,
  secrets: ReadSecrets,
  names: Iterable<string>,
): Promise<ReadSecrets> {
  const lacking = [...new Set(names)].filter((name) => !secrets.has(name));
  if (lacking.length === 0) return secrets;
  const read = await readSecrets(client, namespace, lacking);
  const versions = new Map([...secrets.versions, ...read.versions]);
  return Object.assign(new Map([...secrets, ...read]), { versions });
}
