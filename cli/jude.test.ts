// The image's entry point as a container runtime calls it: `jude <subcommand> --help` (and -h) prints
// that subcommand's usage on stdout and exits 0 for every subcommand the image documents, so
// `docker run IMAGE bootstrap --help` helps instead of failing like a usage error.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { FETCH_MODEL_FLAGS, USAGE as fetchModelUsage } from "../serving/fetch-model/main.ts";

const run = promisify(execFile);
const entryPoint = join(import.meta.dirname, "jude.ts");

// Each case starts Node on the TypeScript entry point, which loads the subcommand's modules: seconds
// on a busy CI machine, where the unit suite runs files in parallel (5 s was exceeded once).
describe("jude <subcommand> --help", { timeout: 60_000 }, () => {
  for (const subcommand of ["operator", "serve", "nearline", "bootstrap", "fetch-model"])
    for (const flag of ["--help", "-h"])
      it(`prints the usage of jude ${subcommand} for ${flag} and exits 0`, async () => {
        const { stdout } = await run(process.execPath, [entryPoint, subcommand, flag]);
        expect(stdout).toMatch(new RegExp(`^usage: jude ${subcommand}`));
      });

  it("names in each subcommand's usage every flag it parses", async () => {
    // operator and serve generate theirs from the tables they parse with (operator/config.test.ts,
    // serving/cli-options.ts); fetch-model, nearline and bootstrap list theirs by hand.
    for (const flag of FETCH_MODEL_FLAGS) expect(fetchModelUsage).toMatch(new RegExp(`^  --${flag} <`, "m"));
    for (const subcommand of ["nearline", "bootstrap"]) {
      const { stdout } = await run(process.execPath, [entryPoint, subcommand, "--help"]);
      expect(stdout).toMatch(new RegExp(`^usage: jude ${subcommand} --config <file>\n`));
    }
  });

  it("with no arguments prints its usage on stderr, as the usage error it is (exit 2)", async () => {
    // A container given no arguments is misconfigured (the image's default arguments are --help): it
    // fails, saying what it takes. The usage went to stdout, unlike every other usage error of jude.
    const failure = await run(process.execPath, [entryPoint]).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure).toMatchObject({ code: 2, stdout: "" });
    expect(failure?.stderr).toMatch(/^usage: jude <command> \[flags\]\n/);
  });

  it("lists every subcommand in its own usage, and how to get each one's", async () => {
    const { stdout } = await run(process.execPath, [entryPoint, "--help"]);
    for (const subcommand of ["operator", "serve", "nearline", "bootstrap", "fetch-model"])
      expect(stdout).toMatch(new RegExp(`^  ${subcommand} `, "m"));
    expect(stdout).toContain("jude <command> --help");
  });
});
