// How a worker pod reaches the Secrets its resources reference, without copying them: short values
// (URLs, SASL credentials) become secretKeyRef environment variables, PEM files and the serving token
// read-only Secret volumes. The rendered worker config names only the variables and paths.
import type { V1EnvVar, V1Volume, V1VolumeMount } from "@kubernetes/client-node";

/** A reference to one key of a Secret in the object's namespace. */
export interface SecretKeyReference {
  name: string;
  key: string;
}

/** Where secret-backed files are mounted inside worker containers. */
export const secretMountRoot = "/var/run/jude/secrets";

/** Collects the env variables and volumes a pod needs for the secrets its config names. */
export class SecretWiring {
  readonly env: V1EnvVar[] = [];
  readonly volumes: V1Volume[] = [];
  readonly volumeMounts: V1VolumeMount[] = [];
  readonly #secretNames = new Set<string>();
  readonly #readAtStart = new Set<string>();

  /** Exposes a Secret key as environment variable `envName`; returns the config's `{ env }` source. */
  envFrom(envName: string, ref: SecretKeyReference): { env: string } {
    this.env.push({ name: envName, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } });
    this.#secretNames.add(ref.name);
    this.#readAtStart.add(ref.name);
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
    if (options.readAgain !== true) this.#readAtStart.add(ref.name);
    return `${mountPath}/${ref.key}`;
  }

  /** Names of every Secret referenced so far, sorted (the controller checks they exist). */
  get secretNames(): string[] {
    return [...this.#secretNames].sort();
  }

  /** Names of the Secrets the process reads only when it starts, sorted: a write must roll the pods. */
  get readAtStartSecretNames(): string[] {
    return [...this.#readAtStart].sort();
  }
}
