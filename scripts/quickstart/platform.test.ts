// `down` (and Ctrl-C, which runs the same teardown) removes the last run's summary with everything
// else the run made: left behind, its figures read as the current run's to whoever opens the file next.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { quickstartSummaryFile } from "./files.ts";
import { createNarrator } from "./narrator.ts";
import { tearDown } from "./platform.ts";
import { readQuickstartState } from "./state.ts";

describe("the quickstart's teardown", () => {
  let previous: string | undefined;
  beforeEach(() => {
    previous = process.env.JUDE_QUICKSTART_STATE_DIR;
    process.env.JUDE_QUICKSTART_STATE_DIR = mkdtempSync(join(tmpdir(), "quickstart-teardown-"));
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.JUDE_QUICKSTART_STATE_DIR;
    else process.env.JUDE_QUICKSTART_STATE_DIR = previous;
  });

  it("removes a previous run's summary, even when nothing else is recorded", async () => {
    writeFileSync(quickstartSummaryFile(), JSON.stringify({ summary: { activeVersion: "minilm-v2" } }));
    const out = new PassThrough();
    let printed = "";
    out.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    expect(readQuickstartState()).toBeUndefined();
    await tearDown(createNarrator({ interactive: false, out: out as unknown as NodeJS.WriteStream }));
    expect(existsSync(quickstartSummaryFile())).toBe(false);
    expect(printed).toContain("nothing recorded");
  });
});
