import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fallbackTerminationMessage } from "./termination-message.ts";

describe("the termination message a local node gives a failed exit (FallbackToLogsOnError)", () => {
  const dir = mkdtempSync(join(tmpdir(), "jude-termination-"));
  const log = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const lines = Array.from({ length: 100 }, (_, index) => `line ${index}`).join("\n") + "\n";

  it("is the last 80 lines of the log, as the kubelet's", () => {
    const message = fallbackTerminationMessage("FallbackToLogsOnError", 1, log("lines.log", lines));
    expect(message?.split("\n")[0]).toBe("line 20");
    expect(message?.trimEnd().split("\n").at(-1)).toBe("line 99");
  });

  it("is at most the last 2 KiB of them", () => {
    const long = `${"x".repeat(3000)}\nthe last line\n`;
    const message = fallbackTerminationMessage("FallbackToLogsOnError", 1, log("long.log", long));
    expect(Buffer.byteLength(message ?? "")).toBe(2048);
    expect(message?.endsWith("the last line\n")).toBe(true);
  });

  it.each([
    ["the default policy", "File", 1],
    ["a clean exit", "FallbackToLogsOnError", 0],
    ["no policy", undefined, 1],
  ] as const)("is none for %s", (_, policy, exitCode) => {
    expect(fallbackTerminationMessage(policy, exitCode, log("lines.log", lines))).toBeUndefined();
  });

  it("is none for an empty or missing log", () => {
    expect(fallbackTerminationMessage("FallbackToLogsOnError", 1, log("empty.log", ""))).toBeUndefined();
    expect(fallbackTerminationMessage("FallbackToLogsOnError", 1, join(dir, "absent.log"))).toBeUndefined();
  });
});
