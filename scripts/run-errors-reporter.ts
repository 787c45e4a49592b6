// A vitest reporter for `npm test` (scripts/test.sh): vitest exits 1 on errors that belong to no
// test (an unhandled rejection or exception, often from a test file's leftover timer or process
// after its test ended), and its JSON report leaves them out, so a CI log whose tail shows every
// test passed said nothing of why the run failed. This writes the run's end reason and those
// errors to $JUDE_RUN_ERRORS_FILE; scripts/test-report.ts repeats them in the closing lines.
import { writeFileSync } from "node:fs";
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from "vitest/node";

/** What scripts/test-report.ts reads from a `*.run-errors.json` file. */
export interface RunErrors {
  reason: TestRunEndReason;
  /** testFile and lastTest: the file that ran, and its last test, when the error came. */
  errors: { name: string; message: string; testFile?: string; lastTest?: string; stack: string }[];
}

/** The first lines of a stack (the frames that name the test file), not the whole of it. */
const STACK_LINES = 8;

export default class RunErrorsReporter implements Reporter {
  onTestRunEnd(
    _testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    const file = process.env.JUDE_RUN_ERRORS_FILE;
    if (file === undefined) return;
    const report: RunErrors = {
      reason,
      errors: unhandledErrors.map((error) => ({
        name: error.name ?? "Error",
        message: error.message,
        ...(typeof error.VITEST_TEST_PATH === "string" ? { testFile: error.VITEST_TEST_PATH } : {}),
        ...(typeof error.VITEST_TEST_NAME === "string" ? { lastTest: error.VITEST_TEST_NAME } : {}),
        stack: (error.stack ?? "").split("\n").slice(0, STACK_LINES).join("\n"),
      })),
    };
    writeFileSync(file, JSON.stringify(report, null, 2));
  }
}
