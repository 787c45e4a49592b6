// A folder tree as mount plans read it: the host's own filesystem, or a built image's filesystem
// (where its paths resolve inside that folder, so the image's symlinks never lead onto the host).
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { HostTree } from "./mount-plan.ts";

/** The tree below `root`, seen with `root` as `/`. */
export function treeAt(root: string): HostTree {
  return {
    kind(path) {
      const stat = lstatSync(join(root, path), { throwIfNoEntry: false });
      if (stat === undefined) return "missing";
      if (stat.isSymbolicLink()) return "symlink";
      if (stat.isDirectory()) return "dir";
      return stat.isFile() ? "file" : "other";
    },
    readlink: (path) => readlinkSync(join(root, path)),
    list: (dir) => readdirSync(join(root, dir)),
  };
}

/** The host filesystem. */
export const hostTree: HostTree = treeAt("/");
