import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withStateLock } from "./state.ts";

let previous: string | undefined;
beforeEach(() => {
  previous = process.env.JUDE_TESTBED_STATE_DIR;
  process.env.JUDE_TESTBED_STATE_DIR = join(mkdtempSync(join(tmpdir(), "jude-state-")), ".testbed");
});
afterEach(() => {
  if (previous === undefined) delete process.env.JUDE_TESTBED_STATE_DIR;
  else process.env.JUDE_TESTBED_STATE_DIR = previous;
});

describe("withStateLock", () => {
  it("runs two changes of one state one after the other", async () => {
    const log: string[] = [];
    const change = (name: string) =>
      withStateLock(async () => {
        log.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        log.push(`${name} end`);
      });
    await Promise.all([change("a"), change("b")]);
    expect(log).toEqual(["a start", "a end", "b start", "b end"]);
  });

  it("takes over a lock left by a dead process and releases it after a failure", async () => {
    const lock = join(process.env.JUDE_TESTBED_STATE_DIR!, "lock");
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, "pid"), "999999999");
    await expect(withStateLock(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await withStateLock(async () => "ran")).toBe("ran");
  });
});
