/**
 * `npm run bench -- <name> [flags]`: runs `bench/<name>.ts` (serving, pipeline, bootstrap, operator,
 * cutover) in its own Node process, so each benchmark keeps its own command line (`--json`: the last
 * line of output is one JSON object of its figures) and one benchmark's warm state never leaks into
 * another's. Each benchmark file runs itself when executed directly.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));

/** The benchmarks DESIGN.md names; those whose file is not written yet are refused. */
const benchmarks = [
  "serving",
  "serving-external",
  "serving-flood",
  "pipeline",
  "bootstrap",
  "operator",
  "cutover",
  "promotion",
];
const available = (): string[] => benchmarks.filter((name) => existsSync(`${benchDir}${name}.ts`));

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || !available().includes(name)) {
    console.error(`usage: npm run bench -- <${available().join("|")}> [--json]`);
    return 2;
  }
  const child = spawn(process.execPath, [`${benchDir}${name}.ts`, ...rest], { stdio: "inherit" });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

process.exitCode = await run(process.argv.slice(2));
