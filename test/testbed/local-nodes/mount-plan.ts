// A pod's filesystem view: a tmpfs root holding the directories of a base tree (the host's, or a built
// image's filesystem) by bind mount, except the directories on the way to a volume's mountPath, which
// are rebuilt entry by entry so the mountPath can be created without touching the base. Pure: it reads
// the base tree through `HostTree`.
import { posix } from "node:path";

/** One volume (or per-pod file such as /etc/hosts) to mount at `target` inside the pod. */
export interface PodMount {
  target: string;
  source: string;
  kind: "dir" | "file";
  readOnly: boolean;
  /** Bind the source's submounts too (the host's /dev with /dev/pts, /dev/shm). */
  recursive?: boolean;
}

/** Where the base tree's entries are bound from, and how. */
export interface BaseTree {
  /** Host folder the tree's paths are relative to ("/" for the host itself). */
  sourceRoot: string;
  /** Bind the tree's entries read-only (an image's filesystem is shared by every pod that runs it). */
  readOnly: boolean;
}

/** What the plan needs to know about the host's filesystem. */
export interface HostTree {
  kind(path: string): "dir" | "file" | "symlink" | "other" | "missing";
  readlink(path: string): string;
  list(dir: string): string[];
}

/** One step of assembling the root, in order; paths are inside the pod root. */
export type MountOp =
  | { op: "mkdir"; path: string }
  | { op: "symlink"; path: string; value: string }
  | { op: "bind"; source: string; path: string; kind: "dir" | "file"; recursive: boolean; readOnly: boolean };

/**
 * Resolves `path` the way the pod will see it: symlinks of the host tree (e.g. /var/run -> /run) are
 * followed, so a mount lands where the process will look, never through a link onto the host.
 */
export function resolveInRoot(path: string, host: HostTree): string {
  let parts = posix.normalize(path).split("/").filter(Boolean);
  let resolved = "/";
  for (let hops = 0; parts.length > 0;) {
    const next = posix.join(resolved, parts[0]!);
    if (host.kind(next) === "symlink") {
      if ((hops += 1) > 40) throw new Error(`too many symlinks resolving ${path}`);
      const value = host.readlink(next);
      const base = value.startsWith("/") ? "/" : resolved;
      parts = [...posix.join(base, value).split("/").filter(Boolean), ...parts.slice(1)];
      resolved = "/";
      continue;
    }
    resolved = next;
    parts = parts.slice(1);
  }
  return resolved;
}

/**
 * The ordered operations that build a pod root: host entries (bound whole, or rebuilt where a mount
 * lies beneath), then each mount at its resolved target, parents before children.
 */
export function planMounts(
  mounts: readonly PodMount[],
  host: HostTree,
  base: BaseTree = { sourceRoot: "/", readOnly: false },
): MountOp[] {
  const resolved = mounts.map((mount) => ({ ...mount, target: resolveInRoot(mount.target, host) }));
  const targets = new Set(resolved.map((mount) => mount.target));
  const expanded = new Set<string>(["/"]);
  for (const { target } of resolved) {
    for (let dir = posix.dirname(target); dir !== "/"; dir = posix.dirname(dir)) {
      if (host.kind(dir) === "dir") expanded.add(dir);
    }
  }
  const ops: MountOp[] = [];
  const rebuild = (dir: string): void => {
    for (const name of host.list(dir).sort()) {
      const path = posix.join(dir, name);
      if (targets.has(path)) continue;
      const kind = host.kind(path);
      if (kind === "symlink") ops.push({ op: "symlink", path, value: host.readlink(path) });
      else if (kind === "dir" && expanded.has(path)) {
        ops.push({ op: "mkdir", path });
        rebuild(path);
      } else if (kind === "dir" || kind === "file") {
        if (kind === "dir") ops.push({ op: "mkdir", path });
        const source = posix.join(base.sourceRoot, path);
        ops.push({ op: "bind", source, path, kind, recursive: kind === "dir", readOnly: base.readOnly });
      }
    }
  };
  rebuild("/");
  const byDepth = [...resolved].sort((a, b) => a.target.split("/").length - b.target.split("/").length);
  for (const mount of byDepth) {
    ops.push({ op: "mkdir", path: mount.kind === "dir" ? mount.target : posix.dirname(mount.target) });
    ops.push({
      op: "bind",
      source: mount.source,
      path: mount.target,
      kind: mount.kind,
      recursive: mount.recursive === true,
      readOnly: mount.readOnly,
    });
  }
  return ops;
}

/**
 * The shell script run inside the pod's fresh mount namespace: `$1` is the root folder, `$2` a file
 * it creates once the root is ready, the rest is the container's argv. It builds the root, then
 * execs the process there (same pid, so signals reach it), as `user` and in `workingDir`. A read-only
 * bind is read-only with every mount beneath it (the host's /run holds /run/netns); `readOnlyRoot`
 * (securityContext.readOnlyRootFilesystem) then makes the pod's tmpfs root read-only too, once built,
 * so only the mounts bound writable (the volumes that are) take writes. A submount listed but gone
 * before its remount (another pod's /run/netns/<name>, deleted as that pod stops: unlinking a mount
 * point detaches it in every namespace) is skipped; the pod failed to start with exit 32 before.
 */
export function mountScript(
  ops: readonly MountOp[],
  user: string | undefined,
  workingDir: string,
  readOnlyRoot = false,
): string {
  const lines = ["set -e", 'R="$1"; S="$2"; shift 2', '/usr/bin/mount -t tmpfs -o mode=0755 jude-pod "$R"'];
  for (const op of ops) {
    const path = `"$R"${quote(op.path)}`;
    if (op.op === "mkdir") lines.push(`/usr/bin/mkdir -p ${path}`);
    else if (op.op === "symlink") lines.push(`/usr/bin/ln -sfn ${quote(op.value)} ${path}`);
    else {
      if (op.kind === "file") lines.push(`[ -e ${path} ] || /usr/bin/touch ${path}`);
      lines.push(`/usr/bin/mount ${op.recursive ? "--rbind" : "--bind"} ${quote(op.source)} ${path}`);
      if (op.readOnly) lines.push(`/usr/bin/mount -o remount,bind,ro ${path}`);
      if (op.readOnly && op.recursive) {
        lines.push(
          `/usr/bin/findmnt -rn -o TARGET -R ${path} | /usr/bin/tail -n +2 | while read -r m; do /usr/bin/mount -o remount,bind,ro "$m" || [ ! -e "$m" ]; done`,
        );
      }
    }
  }
  if (readOnlyRoot) lines.push('/usr/bin/mount -o remount,bind,ro "$R"');
  const userspec = user === undefined ? "" : ` --userspec=${user}`;
  lines.push(': > "$S"');
  lines.push(`exec /usr/sbin/chroot${userspec} "$R" /usr/bin/env -C ${quote(workingDir)} -- "$@"`);
  return lines.join("\n");
}

/** Single-quotes a word for sh. */
export function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
