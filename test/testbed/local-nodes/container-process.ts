// Pod-to-process translation: what a container of the project's image becomes on a local node — the
// argv, environment, working directory and user — exactly as the pod spec says, over the defaults of
// the image (or of the checkout standing in for it). Pure, no I/O.
import type { V1Container, V1EnvVar, V1EnvFromSource, V1Pod } from "@kubernetes/client-node";
import { defaultImageRepository } from "../../../controllers/shared/image.ts";
import { quantityValue } from "../../../crds/kube.ts";
import { checkoutDefaults, checkoutPath, type ImageDefaults } from "./image-config.ts";

/** Values the translation reads from the cluster, already fetched by the caller. */
export interface EnvSources {
  configMap(namespace: string, name: string): Record<string, string> | undefined;
  secret(namespace: string, name: string): Record<string, string> | undefined;
  /** Service link variables for the pod (see service-env.ts). */
  serviceEnv: Record<string, string>;
  /** The pod's node's allocatable: what a resourceFieldRef to an unset limit reads, as on a kubelet. */
  nodeAllocatable?: Record<string, string>;
}

/** What to exec for one container. */
export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  /** uid:gid from securityContext (container over pod); undefined runs as root. */
  user: { uid: number; gid: number } | undefined;
}

/**
 * A container the agent cannot start (a missing ConfigMap key, Secret ...); the kubelet's
 * `CreateContainerConfigError` waiting reason.
 */
export class ContainerConfigError extends Error {
  override readonly name = "ContainerConfigError";
}

/** PATH in the checkout (kept under its old name for callers). */
export const imagePath = checkoutPath;

/** True when `image` is the project's image (any tag or digest): the only one local nodes run. */
export function isRunnableImage(image: string | undefined): boolean {
  if (image === undefined) return false;
  const withoutDigest = image.split("@")[0] ?? "";
  const colon = withoutDigest.lastIndexOf(":");
  const repository = colon > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(0, colon) : withoutDigest;
  return repository === defaultImageRepository;
}

/**
 * Translates one container over its image's defaults, as a container runtime does: `command` replaces
 * the entrypoint (and drops the image's CMD), `args` replace the CMD; the pod's variables override the
 * image's; `workingDir` and `runAsUser`/`runAsGroup` override the image's WORKDIR and USER. In the
 * checkout the entrypoint is `jude`; `$(VAR)` references in env values, command and args expand from
 * the pod's variables as on a cluster (`$$` escapes).
 */
export function containerProcess(
  pod: V1Pod,
  container: V1Container,
  sources: EnvSources,
  image: ImageDefaults = checkoutDefaults,
): ProcessSpec {
  const namespace = pod.metadata?.namespace ?? "default";
  const env: Record<string, string> = { ...sources.serviceEnv };
  for (const from of container.envFrom ?? []) Object.assign(env, envFromSource(namespace, from, sources));
  for (const variable of container.env ?? []) {
    env[variable.name] = envValue(pod, container, variable, env, sources);
  }
  const command = container.command ?? image.entrypoint;
  const args = container.args ?? (container.command === undefined ? image.cmd : []);
  for (const [name, value] of Object.entries(image.env)) env[name] ??= value;
  env.HOSTNAME ??= pod.spec?.hostname ?? pod.metadata?.name ?? "";
  const argv = [...command, ...args].map((part) => expand(part, env));
  const runAsUser = container.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  const runAsGroup = container.securityContext?.runAsGroup ?? pod.spec?.securityContext?.runAsGroup;
  const user =
    runAsUser === undefined
      ? image.user === undefined
        ? undefined
        : { uid: image.user.uid, gid: runAsGroup ?? image.user.gid }
      : { uid: runAsUser, gid: runAsGroup ?? runAsUser };
  env.HOME ??= user === undefined || user.uid === 0 ? "/root" : "/";
  if (argv.length === 0) throw new ContainerConfigError("no command specified (the image has no entrypoint)");
  return { argv, env, workingDir: container.workingDir ?? image.workingDir, user };
}

function envFromSource(
  namespace: string,
  from: V1EnvFromSource,
  sources: EnvSources,
): Record<string, string> {
  const prefix = from.prefix ?? "";
  const ref = from.configMapRef ?? from.secretRef;
  const kind = from.configMapRef !== undefined ? "ConfigMap" : "Secret";
  const data =
    from.configMapRef !== undefined
      ? sources.configMap(namespace, from.configMapRef.name ?? "")
      : sources.secret(namespace, ref?.name ?? "");
  if (data === undefined) {
    if (ref?.optional === true) return {};
    throw new ContainerConfigError(`${kind.toLowerCase()} "${ref?.name ?? ""}" not found`);
  }
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [`${prefix}${key}`, value]));
}

function envValue(
  pod: V1Pod,
  own: V1Container,
  variable: V1EnvVar,
  env: Record<string, string>,
  sources: EnvSources,
): string {
  if (variable.valueFrom === undefined) return expand(variable.value ?? "", env);
  const namespace = pod.metadata?.namespace ?? "default";
  const { configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef } = variable.valueFrom;
  if (configMapKeyRef !== undefined || secretKeyRef !== undefined) {
    const ref = (configMapKeyRef ?? secretKeyRef)!;
    const kind = configMapKeyRef !== undefined ? "configmap" : "secret";
    const data =
      configMapKeyRef !== undefined
        ? sources.configMap(namespace, ref.name ?? "")
        : sources.secret(namespace, ref.name ?? "");
    const value = data?.[ref.key];
    if (value !== undefined) return value;
    if (ref.optional === true) return "";
    throw new ContainerConfigError(
      data === undefined
        ? `${kind} "${ref.name}" not found`
        : `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`,
    );
  }
  if (fieldRef !== undefined) return fieldValue(pod, fieldRef.fieldPath);
  if (resourceFieldRef !== undefined) {
    const [group, resource] = resourceFieldRef.resource.split(".");
    // For env, containerName is optional and means the variable's own container (the kubelet's rule).
    const container =
      resourceFieldRef.containerName === undefined || resourceFieldRef.containerName === ""
        ? own
        : pod.spec?.containers.find((c) => c.name === resourceFieldRef.containerName);
    const quantity =
      group === "limits"
        ? (container?.resources?.limits?.[resource ?? ""] ?? sources.nodeAllocatable?.[resource ?? ""])
        : container?.resources?.requests?.[resource ?? ""];
    return quantity === undefined ? "0" : resourceValue(String(quantity), resource, resourceFieldRef.divisor);
  }
  return "";
}

/**
 * A resource quantity as the kubelet hands it to a variable: rounded up in units of the divisor
 * (default and "0" mean 1; CPU counted in millicores so `250m` over `1m` is 250).
 */
function resourceValue(quantity: string, resource: string | undefined, divisor: string | undefined): string {
  const unit = divisor === undefined || quantityValue(divisor) === 0 ? 1 : quantityValue(divisor);
  const scale = resource === "cpu" ? 1000 : 1;
  return String(Math.ceil(Math.round(quantityValue(quantity) * scale) / Math.round(unit * scale)));
}

/** The downward API's field paths (env fieldRef and downwardAPI volumes share them). */
export function fieldValue(pod: V1Pod, fieldPath: string): string {
  const mapped = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (mapped !== null) {
    const map = mapped[1] === "labels" ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[mapped[2]!] ?? "";
  }
  const values: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": pod.metadata?.namespace,
    "metadata.uid": pod.metadata?.uid,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
    "status.podIP": pod.status?.podIP,
    "status.podIPs": pod.status?.podIPs?.map((ip) => ip.ip).join(","),
    "status.hostIP": pod.status?.hostIP,
    "status.hostIPs": pod.status?.hostIPs?.map((ip) => ip.ip).join(","),
  };
  if (!(fieldPath in values)) throw new ContainerConfigError(`unsupported fieldRef fieldPath "${fieldPath}"`);
  return values[fieldPath] ?? "";
}

/** Kubernetes' `$(VAR)` expansion: defined names expand, undefined ones stay, `$$` is a literal `$`. */
export function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && name in env ? env[name]! : match;
  });
}
