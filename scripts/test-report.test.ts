import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import RunErrorsReporter, { type RunErrors } from "./run-errors-reporter.ts";

const report = (passed: number, failed: number) => ({
  numPassedTests: passed,
  numFailedTests: failed,
  numPendingTests: 0,
  numTodoTests: 0,
  testResults: [],
});
/** The closing lines scripts/test-report.ts prints for a folder of reports. */
const closingLines = (folder: string): string =>
  execFileSync(process.execPath, [join(import.meta.dirname, "test-report.ts"), folder], { encoding: "utf8" });

describe("the closing lines of npm test", () => {
  it("repeat an error outside any test, which fails a run whose tests all passed, naming its file", () => {
    const folder = mkdtempSync(join(tmpdir(), "test-report-"));
    writeFileSync(join(folder, "integration.json"), JSON.stringify(report(3, 0)));
    process.env.JUDE_RUN_ERRORS_FILE = join(folder, "integration.run-errors.json");
    try {
      const error = new Error("connect ECONNREFUSED 127.0.0.1:6379");
      new RunErrorsReporter().onTestRunEnd(
        [],
        [
          {
            name: error.name,
            message: error.message,
            stack: error.stack,
            VITEST_TEST_PATH: join(process.cwd(), "test/integration/a.test.ts"),
            VITEST_TEST_NAME: "keeps going",
          },
        ],
        "passed",
      );
    } finally {
      delete process.env.JUDE_RUN_ERRORS_FILE;
    }
    const written = JSON.parse(
      readFileSync(join(folder, "integration.run-errors.json"), "utf8"),
    ) as RunErrors;
    expect(written.errors).toHaveLength(1);

    const lines = closingLines(folder);
    expect(lines).toContain("Errors outside any test (1):");
    expect(lines).toContain("integration: Error: connect ECONNREFUSED 127.0.0.1:6379");
    expect(lines).toContain("while test/integration/a.test.ts ran (last test: keeps going)");
    expect(lines).toContain("test-report.test.ts"); // the stack's first frame
    expect(lines.trim().split("\n").at(-1)).toBe("3 passed, 0 failed, 1 errors outside any test");
  });

  it("say how a run ended when it failed with neither a failed test nor an error", () => {
    const folder = mkdtempSync(join(tmpdir(), "test-report-"));
    writeFileSync(join(folder, "e2e.json"), JSON.stringify(report(2, 0)));
    writeFileSync(join(folder, "e2e.run-errors.json"), JSON.stringify({ reason: "interrupted", errors: [] }));
    expect(closingLines(folder)).toContain("e2e: the run ended interrupted");
  });

  it("end in the plain line alone when every run passed", () => {
    const folder = mkdtempSync(join(tmpdir(), "test-report-"));
    writeFileSync(join(folder, "unit.json"), JSON.stringify(report(5, 0)));
    writeFileSync(join(folder, "unit.run-errors.json"), JSON.stringify({ reason: "passed", errors: [] }));
    expect(closingLines(folder).trim()).toBe("5 passed, 0 failed");
  });
});
