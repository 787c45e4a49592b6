import { renameSync, writeFileSync } from "node:fs";

/**
 * Replaces a file's contents in one step (written beside it, then renamed over it), so a reader
 * running at the same moment sees the old file or the new one, never half of either, and a crash
 * never leaves a torn file behind.
 */
export function replaceFile(path: string, contents: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}
