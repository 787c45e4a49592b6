// Writes a ConfigMap/Secret/projected volume the way the kubelet's atomic writer does: files in a
// timestamped folder, a `..data` symlink swapped by rename, and user-visible names linking through
// it — so a running process sees either the old or the new set of files, never a mix.
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  readdirSync,
  readFileSync,
} from "node:fs";
import { dirname, join } from "node:path";

/** One file of a volume: relative path, content and mode. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  mode: number;
}

/**
 * Makes `dir` hold exactly `files`. Returns false (and writes nothing) when they are unchanged, so a
 * periodic resync does not churn the folder.
 */
export function writeAtomically(dir: string, files: readonly VolumeFile[]): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const fingerprint = fingerprintOf(files);
  const stamp = join(dir, "..fingerprint");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === fingerprint) return false;
  const previous = existsSync(join(dir, "..data")) ? readlinkSync(join(dir, "..data")) : undefined;
  const version = `..${new Date().toISOString().replaceAll(":", "_")}.${process.hrtime.bigint()}`;
  for (const file of files) {
    const target = join(dir, version, file.path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, file.content);
    chmodSync(target, file.mode);
  }
  mkdirSync(join(dir, version), { recursive: true, mode: 0o755 });
  symlinkSync(version, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  const visible = new Set(files.map((file) => file.path.split("/")[0]!));
  for (const name of visible) {
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(join("..data", name), link);
  }
  for (const name of readdirSync(dir)) {
    if (!name.startsWith("..") && !visible.has(name)) rmSync(join(dir, name), { force: true });
  }
  if (previous !== undefined && previous !== version)
    rmSync(join(dir, previous), { recursive: true, force: true });
  writeFileSync(stamp, fingerprint);
  return true;
}

function fingerprintOf(files: readonly VolumeFile[]): string {
  const hash = createHash("sha256");
  for (const file of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    hash.update(`${file.path}\0${file.mode}\0`).update(file.content).update("\0");
  }
  return hash.digest("hex");
}
