import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { replaceFile } from "./replace-file.ts";

it("replaces the contents through a new inode and leaves no temporary file", () => {
  const dir = mkdtempSync(join(tmpdir(), "replace-file-"));
  const path = join(dir, "pods.json");
  writeFileSync(path, "old and longer contents");
  const before = readFileSync(path);
  replaceFile(path, "new");
  expect(readFileSync(path, "utf8")).toBe("new");
  expect(before.toString()).toBe("old and longer contents"); // what a reader already holds stays whole
  expect(readdirSync(dir)).toEqual(["pods.json"]);
});
