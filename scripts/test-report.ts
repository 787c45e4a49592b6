// The closing lines of `npm test` (scripts/test.sh), read from the vitest JSON reports in one folder:
// every failed test again (file, name, first line of its error), so the end of a long CI log names
// what failed, then one "N passed, N failed" line over all projects, the plain form CI reads.
// Errors that belong to no test (which fail a run whose tests all passed) are repeated too, from the
// `*.run-errors.json` files scripts/run-errors-reporter.ts writes beside the reports.
// A project that stopped before writing its report counts nothing; the run's exit code says it failed.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { RunErrors } from "./run-errors-reporter.ts";

interface AssertionResult {
  ancestorTitles: string[];
  title: string;
  status: string;
  failureMessages?: string[];
}
interface FileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults: AssertionResult[];
}
interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: FileResult[];
}

const folder = process.argv[2];
if (folder === undefined) throw new Error("usage: node scripts/test-report.ts REPORTS_FOLDER");

const firstLine = (text: string | undefined): string => (text ?? "").trim().split("\n")[0] ?? "";
let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
const runErrorsSuffix = ".run-errors.json";
const entries = readdirSync(folder).sort();
for (const entry of entries.filter((name) => name.endsWith(".json") && !name.endsWith(runErrorsSuffix))) {
  const report = JSON.parse(readFileSync(join(folder, entry), "utf8")) as Report;
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  for (const file of report.testResults) {
    const path = relative(process.cwd(), file.name);
    const failedTests = file.assertionResults.filter((test) => test.status === "failed");
    for (const test of failedTests)
      failures.push(
        `${[path, ...test.ancestorTitles, test.title].join(" > ")}\n    ${firstLine(test.failureMessages?.[0])}`,
      );
    // A file can fail with no failed test of its own: an error while importing it or in a hook.
    if (file.status === "failed" && failedTests.length === 0)
      failures.push(`${path}\n    ${firstLine(file.message)}`);
  }
}
// A run that ended otherwise than "passed" with no failed test is told by its reason alone.
const runErrors: string[] = [];
for (const entry of entries.filter((name) => name.endsWith(runErrorsSuffix))) {
  const { reason, errors } = JSON.parse(readFileSync(join(folder, entry), "utf8")) as RunErrors;
  const project = entry.slice(0, -runErrorsSuffix.length);
  for (const error of errors)
    runErrors.push(
      `${project}: ${error.name}: ${firstLine(error.message)}` +
        (error.testFile === undefined ? "" : `\n    while ${relative(process.cwd(), error.testFile)} ran`) +
        (error.lastTest === undefined ? "" : ` (last test: ${error.lastTest})`) +
        error.stack
          .split("\n")
          .slice(1)
          .map((line) => `\n    ${line.trim()}`)
          .join(""),
    );
  if (errors.length === 0 && reason !== "passed" && failed === 0)
    runErrors.push(`${project}: the run ended ${reason}`);
}
if (failures.length > 0)
  console.log(`\nFailed (${failures.length}):\n${failures.map((line) => `  ${line}`).join("\n")}`);
if (runErrors.length > 0)
  console.log(
    `\nErrors outside any test (${runErrors.length}):\n${runErrors.map((line) => `  ${line}`).join("\n")}`,
  );
console.log(
  `\n${passed} passed, ${failed} failed` +
    (skipped > 0 ? `, ${skipped} skipped` : "") +
    (runErrors.length > 0 ? `, ${runErrors.length} errors outside any test` : ""),
);
