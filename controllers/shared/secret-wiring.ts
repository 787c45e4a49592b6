// How a worker pod reaches the Secrets its resources reference, without copying them: short values
// (URLs, SASL credentials) become secretKeyRef environment variables, PEM files and the serving token
// read-only Secret volumes. The rendered worker config names only the variables and paths.
import { createHash } from "node:crypto";
import type { V1EnvVar, V1Volume, V1VolumeMount } from "@kubernetes/client-node";

/** A reference to one key of a Secret in the object's namespace. */
export interface SecretKeyReference {
  name: string;
  key: string;
}

/**
 * Secrets as read this reconcile: each existing one's data (key -> value) and, in `versions`, its
 * resourceVersion. A missing Secret is in neither.
 */
export type SecretsAsRead = ReadonlyMap<string, ReadonlyMap<string, Buffer>> & {
  readonly versions: ReadonlyMap<string, string>;
};

/** What a pod reads of one Secret only when it starts: keys as files, and whether keys as env values. */
export interface SecretReadAtStart {
  name: string;
  /** Keys mounted as files (PEM certificates and keys), sorted. */
  files: string[];
  /** Whether some key is an environment variable (a URL, a password). */
  values: boolean;
}

/**
 * The pod template's `jude.dev/secret-versions`: for each Secret a pod reads only at start, what it
 * reads of it, so a change of that rolls the pods and nothing else does. A Secret read only as files
 * is `name@sha256:<digest>` of those keys' contents: a cert-manager renewal that rewrites tls.crt and
 * tls.key but keeps ca.crt, or a write of annotations, leaves a pod that reads ca.crt alone. The
 * files are certificates (public) and private keys (far too long to guess from a digest). A Secret
 * read as an environment value is `name@<resourceVersion>` instead, so any write of it rolls the pods:
 * a digest of a short value such as a password could be guessed offline from the Deployment, which
 * more people may read than the Secret. A missing Secret is `name@absent`.
 */
export function secretStampsOf(reads: readonly SecretReadAtStart[], secrets: SecretsAsRead): string {
  return [...reads]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name, files, values }) => {
      const data = secrets.get(name);
      if (data === undefined) return `${name}@absent`;
      if (values) return `${name}@${secrets.versions.get(name) ?? ""}`;
      const digest = createHash("sha256");
      for (const key of [...files].sort()) {
        const value = data.get(key);
        digest.update(`${key}\0`);
        digest.update(value === undefined ? "absent\0" : `${value.length}\0`);
        if (value !== undefined) digest.update(value);
      }
      return `${name}@sha256:${digest.digest("hex").slice(0, 16)}`;
    })
    .join(",");
}

/**
 * `desired` (secretStampsOf) with each `name@absent` entry replaced by `current`'s entry for that
 * Secret, when the running template has one: a Secret deleted under running pods must not roll them.
 * A new pod could not start without it (its volume holds it in ContainerCreating), so the rollout
 * would only leave a pod stuck beside those that serve; once the Secret is back, its own stamp rolls
 * the pods if what they read changed. A Secret absent from the start is stamped absent as before.
 */
export function keepStampsOfMissingSecrets(desired: string, current: string | undefined): string {
  if (current === undefined || !desired.includes("@absent")) return desired;
  const running = new Map(
    current
      .split(",")
      .filter((entry) => entry.includes("@"))
      .map((entry) => [entry.slice(0, entry.indexOf("@")), entry] as const),
  );
  return desired
    .split(",")
    .map((entry) => {
      if (!entry.endsWith("@absent")) return entry;
      return running.get(entry.slice(0, -"@absent".length)) ?? entry;
    })
    .join(",");
}

/** Where secret-backed files are mounted inside worker containers. */
export const secretMountRoot = "/var/run/jude/secrets";

/** Collects the env variables and volumes a pod needs for the secrets its config names. */
export class SecretWiring {
  readonly env: V1EnvVar[] = [];
  readonly volumes: V1Volume[] = [];
  readonly volumeMounts: V1VolumeMount[] = [];
  readonly #secretNames = new Set<string>();
  readonly #readAtStart = new Map<string, { files: Set<string>; values: boolean }>();

  #readsAtStart(name: string): { files: Set<string>; values: boolean } {
    let reads = this.#readAtStart.get(name);
    if (reads === undefined) this.#readAtStart.set(name, (reads = { files: new Set(), values: false }));
    return reads;
  }

  /** Exposes a Secret key as environment variable `envName`; returns the config's `{ env }` source. */
  envFrom(envName: string, ref: SecretKeyReference): { env: string } {
    this.env.push({ name: envName, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } });
    this.#secretNames.add(ref.name);
    this.#readsAtStart(ref.name).values = true;
    return { env: envName };
  }

  /**
   * Mounts one Secret key as a file under `<root>/<volumeName>/`; returns the file's path. Each call
   * is its own volume, so two references to different keys of one Secret never collide. The kubelet
   * updates the file in place when the Secret changes (whole-volume mount, no subPath): with
   * `readAgain` the process reads it again when it needs to (the serving token), so a write of that
   * Secret need not roll the pods.
   */
  fileFrom(volumeName: string, ref: SecretKeyReference, options: { readAgain?: boolean } = {}): string {
    this.volumes.push({
      name: volumeName,
      secret: { secretName: ref.name, items: [{ key: ref.key, path: ref.key }], defaultMode: 0o440 },
    });
    const mountPath = `${secretMountRoot}/${volumeName}`;
    this.volumeMounts.push({ name: volumeName, mountPath, readOnly: true });
    this.#secretNames.add(ref.name);
    if (options.readAgain !== true) this.#readsAtStart(ref.name).files.add(ref.key);
    return `${mountPath}/${ref.key}`;
  }

  /** Names of every Secret referenced so far, sorted (the controller checks they exist). */
  get secretNames(): string[] {
    return [...this.#secretNames].sort();
  }

  /**
   * The Secrets the process reads only when it starts, by name, with what it reads of each: a change
   * of that must roll the pods (secretStampsOf).
   */
  get readAtStart(): SecretReadAtStart[] {
    return [...this.#readAtStart]
      .map(([name, reads]) => ({ name, files: [...reads.files].sort(), values: reads.values }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
