// The pod's `securityContext.fsGroup` applied to the volumes the agent writes, as the kubelet's
// SetVolumeOwnership does: every entry gets the group, files at least group-readable (group-writable
// in writable volumes), folders also group-searchable and setgid so new files inherit the group. Host
// folders (hostPath, claims bound to a host folder) are never changed, as the kubelet leaves them too.
import { chmodSync, chownSync, lchownSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

const setgid = 0o2000;

/** The mode an entry gets under fsGroup. Pure. */
export function fsGroupMode(mode: number, isDir: boolean, readOnly: boolean): number {
  let mask = readOnly ? 0o440 : 0o660;
  if (isDir) mask |= 0o110 | setgid;
  return (mode & 0o7777) | mask;
}

/** Gives everything under `dir` (itself included) the group `fsGroup`; symlinks change group only. */
export function applyFsGroup(dir: string, fsGroup: number, readOnly: boolean): void {
  const visit = (path: string): void => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) {
      lchownSync(path, stat.uid, fsGroup);
      return;
    }
    chownSync(path, stat.uid, fsGroup);
    chmodSync(path, fsGroupMode(stat.mode, stat.isDirectory(), readOnly));
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
}
