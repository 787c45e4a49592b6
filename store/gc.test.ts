import { describe, expect, it } from "vitest";
import { selectVersionsToDelete } from "./gc.ts";
import type { VersionInfo } from "./versions.ts";

function version(name: string, state: VersionInfo["state"], completedAtMs?: number): VersionInfo {
  return {
    version: name,
    state,
    modelDigest: "d",
    dtype: "f32",
    dimension: 4,
    createdAtMs: completedAtMs ?? 0,
    ...(completedAtMs === undefined ? {} : { completedAtMs }),
  };
}

const pointer = { current: "v5", backup: "v4", epoch: 9, flippedAtMs: null };
const versions = [
  version("v1", "complete", 1),
  version("v2", "complete", 2),
  version("v3", "complete", 3),
  version("v4", "complete", 4),
  version("v5", "complete", 5),
  version("v6", "building"),
];

describe("retention", () => {
  it("keeps current, backup and building versions whatever the retention", () => {
    expect(selectVersionsToDelete(pointer, versions, 0)).toEqual(["v3", "v2", "v1"]);
  });

  it("counts the backup among the retained rollback targets", () => {
    expect(selectVersionsToDelete(pointer, versions, 1)).toEqual(["v3", "v2", "v1"]);
    expect(selectVersionsToDelete(pointer, versions, 2)).toEqual(["v2", "v1"]);
    expect(selectVersionsToDelete(pointer, versions, 10)).toEqual([]);
  });

  it("resumes versions already being deleted first", () => {
    const withDeleting = [...versions, version("v0", "deleting", 0)];
    expect(selectVersionsToDelete(pointer, withDeleting, 3)).toEqual(["v0", "v1"]);
  });

  it("retains by completion time, newest first, without a backup", () => {
    const noBackup = { ...pointer, backup: null };
    expect(selectVersionsToDelete(noBackup, versions, 1)).toEqual(["v3", "v2", "v1"]);
  });

  it("rejects a negative retention", () => {
    expect(() => selectVersionsToDelete(pointer, versions, -1)).toThrow(/retainVersions/);
  });
});
