// Built images as local nodes run them: an image in this machine's buildah store (scripts/build-image.sh)
// is mounted once per image id (a buildah working container, `buildah mount`) and its filesystem is the
// read-only base of every container that runs from it. Lookups never block the agent's loop: the first
// one starts the work and answers "pending"; later ones see the result.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { treeAt } from "./host-tree.ts";
import { imageDefaults, type ImageDefaults, type OciConfig } from "./image-config.ts";
import type { HostTree, PodMount } from "./mount-plan.ts";

const execFileAsync = promisify(execFile);

/** How often a looked-up image is checked again (a rebuild under the same tag gets a new id). */
const recheckMs = 5_000;

/** An image ready to run from. */
export interface LocalImage {
  /** The reference the pod names. */
  ref: string;
  /** The image id (sha256 hex). */
  id: string;
  /** Host folder holding the image's filesystem (the working container's mount). */
  root: string;
  defaults: ImageDefaults;
  tree: HostTree;
}

/** The answer of a lookup. */
export type ImageLookup =
  { state: "pending" } | { state: "missing"; message: string } | { state: "ready"; image: LocalImage };

/** The host's kernel file systems every container of an image gets (its own are empty folders). */
export const imageSystemMounts: PodMount[] = ["/proc", "/sys", "/dev"].map((path) => ({
  target: path,
  source: path,
  kind: "dir",
  readOnly: false,
  recursive: true,
}));

async function buildah(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("buildah", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** The images the agent has looked up, and their mounted filesystems. */
export class ImageStore {
  readonly #lookups = new Map<string, { result: ImageLookup; checkedAtMs: number; busy: boolean }>();
  readonly #mounted = new Map<string, Promise<LocalImage>>();
  readonly #prefix: string;
  readonly #log: (message: string) => void;

  /** `tag` keeps two agents' working containers apart (the network plan's tag). */
  constructor(tag: string, log: (message: string) => void) {
    this.#prefix = `jude-testbed-${tag}-`;
    this.#log = log;
  }

  /** The image `ref` as known now; starts (or repeats, when stale) the lookup in the background. */
  lookup(ref: string, nowMs: number): ImageLookup {
    let entry = this.#lookups.get(ref);
    if (entry === undefined) {
      entry = { result: { state: "pending" }, checkedAtMs: nowMs, busy: false };
      this.#lookups.set(ref, entry);
      this.#refresh(ref, entry);
    } else if (!entry.busy && nowMs - entry.checkedAtMs >= recheckMs) {
      entry.checkedAtMs = nowMs;
      this.#refresh(ref, entry);
    }
    return entry.result;
  }

  #refresh(ref: string, entry: { result: ImageLookup; busy: boolean }): void {
    entry.busy = true;
    void this.#resolve(ref)
      .then((result) => {
        entry.result = result;
      })
      .finally(() => {
        entry.busy = false;
      });
  }

  async #resolve(ref: string): Promise<ImageLookup> {
    let inspected: { FromImageID: string; OCIv1: { config?: OciConfig } };
    try {
      inspected = JSON.parse(await buildah("inspect", "--type", "image", ref)) as typeof inspected;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        return {
          state: "missing",
          message: `image "${ref}": buildah is not installed (Debian package buildah)`,
        };
      const last = ref.split("@")[0]!.split("/").at(-1)!;
      const tag = last.includes(":") ? last.slice(last.indexOf(":") + 1) : "latest";
      return {
        state: "missing",
        message: `image "${ref}" is not in this machine's image store (buildah images): build it with scripts/build-image.sh --tag ${tag}`,
      };
    }
    const id = inspected.FromImageID;
    let mounted = this.#mounted.get(id);
    if (mounted === undefined) {
      mounted = this.#mount(ref, id, inspected.OCIv1.config ?? {});
      this.#mounted.set(id, mounted);
    }
    try {
      return { state: "ready", image: { ...(await mounted), ref } };
    } catch (error) {
      this.#mounted.delete(id);
      return { state: "missing", message: `image "${ref}": ${(error as Error).message}` };
    }
  }

  async #mount(ref: string, id: string, config: OciConfig): Promise<LocalImage> {
    const name = `${this.#prefix}${id.slice(0, 12)}`;
    // A working container of an agent that did not stop cleanly holds the name: start afresh.
    await buildah("rm", name).catch(() => undefined);
    await buildah("from", "--pull-never", "--quiet", "--name", name, id);
    const root = await buildah("mount", name);
    const file = (path: string): string => {
      try {
        return readFileSync(join(root, path), "utf8");
      } catch {
        return "";
      }
    };
    const defaults = imageDefaults(config, file("etc/passwd"), file("etc/group"));
    this.#log(`image ${ref} (${id.slice(0, 12)}) mounted at ${root}`);
    return { ref, id, root, defaults, tree: treeAt(root) };
  }

  /** Unmounts and removes the working containers (the agent is stopping). */
  async close(): Promise<void> {
    const names = [...this.#mounted.keys()].map((id) => `${this.#prefix}${id.slice(0, 12)}`);
    this.#mounted.clear();
    for (const name of names) {
      await buildah("umount", name).catch(() => undefined);
      await buildah("rm", name).catch((error: unknown) =>
        this.#log(`buildah rm ${name}: ${(error as Error).message}`),
      );
    }
  }
}
