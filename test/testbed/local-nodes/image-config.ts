// Where a local container's filesystem and defaults come from: the checkout (the default) or a built
// image's filesystem, chosen per pod by annotation or for the whole agent. Pure, no I/O: the image's
// OCI config and its /etc/passwd and /etc/group are read by the caller (image-store.ts).
import type { V1Pod } from "@kubernetes/client-node";

/** Pod annotation choosing the filesystem a pod's containers run from: `image` or `checkout`. */
export const runFromAnnotation = "testbed.jude.dev/run-from";

/** Where a pod's containers run from. */
export type RunFrom = "checkout" | "image";

/** What a container gets from its image when the pod does not say (the OCI image config). */
export interface ImageDefaults {
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  workingDir: string;
  /** The image's USER, numeric; undefined runs as root. */
  user: { uid: number; gid: number } | undefined;
}

/** PATH in the checkout: the `jude` launcher and Node first (the image has both on its PATH). */
export const checkoutPath =
  "/.jude-testbed/bin:/.jude-testbed/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The checkout's stand-in for an image config: entrypoint `jude`, no CMD, root, `/`. */
export const checkoutDefaults: ImageDefaults = {
  entrypoint: ["jude"],
  cmd: [],
  env: { PATH: checkoutPath },
  workingDir: "/",
  user: undefined,
};

/**
 * The pod's choice: its `testbed.jude.dev/run-from` annotation, else the agent's default. Throws on a
 * value that is neither, so a typo shows as the container's config error instead of silently running
 * the checkout.
 */
export function runFromOf(pod: V1Pod, agentDefault: RunFrom): RunFrom {
  const value = pod.metadata?.annotations?.[runFromAnnotation];
  if (value === undefined) return agentDefault;
  if (value === "image" || value === "checkout") return value;
  throw new Error(`annotation ${runFromAnnotation}: "${value}" is neither "image" nor "checkout"`);
}

/** The subset of an OCI image config the agent reads (`buildah inspect` → `.OCIv1.config`). */
export interface OciConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
}

/**
 * The defaults of an image from its OCI config. `passwd` and `group` are the image's own files (a
 * named USER resolves there, as a runtime does, never against the host's users).
 */
export function imageDefaults(config: OciConfig, passwd = "", group = ""): ImageDefaults {
  const env: Record<string, string> = {};
  for (const entry of config.Env ?? []) {
    const equals = entry.indexOf("=");
    if (equals > 0) env[entry.slice(0, equals)] = entry.slice(equals + 1);
  }
  return {
    entrypoint: config.Entrypoint ?? [],
    cmd: config.Cmd ?? [],
    env,
    workingDir: config.WorkingDir === undefined || config.WorkingDir === "" ? "/" : config.WorkingDir,
    user: imageUser(config.User ?? "", passwd, group),
  };
}

/** Resolves an image USER (`uid`, `uid:gid`, `name`, `name:group`) to numbers in the image's files. */
export function imageUser(
  user: string,
  passwd: string,
  group: string,
): { uid: number; gid: number } | undefined {
  if (user === "") return undefined;
  const [userPart = "", groupPart] = user.split(":");
  const passwdEntry = (name: string): string[] | undefined =>
    passwd
      .split("\n")
      .map((line) => line.split(":"))
      .find((fields) => fields[0] === name || (/^\d+$/.test(name) && fields[2] === name));
  const entry = passwdEntry(userPart);
  let uid: number;
  if (/^\d+$/.test(userPart)) uid = Number(userPart);
  else if (entry !== undefined) uid = Number(entry[2]);
  else throw new Error(`image user "${userPart}" is not in the image's /etc/passwd`);
  let gid = entry === undefined ? uid : Number(entry[3]);
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const found = group
        .split("\n")
        .map((line) => line.split(":"))
        .find((fields) => fields[0] === groupPart);
      if (found === undefined) throw new Error(`image group "${groupPart}" is not in the image's /etc/group`);
      gid = Number(found[2]);
    }
  }
  return { uid, gid };
}
