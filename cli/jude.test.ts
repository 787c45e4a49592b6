// The image's entry point as a container runtime calls it: `jude <subcommand> --help` (and -h) prints
// that subcommand's usage on stdout and exits 0 for every subcommand the image documents, so
// `docker run IMAGE bootstrap --help` helps instead of failing like a usage error. The dispatch runs
// in-process (jude/commands.ts); one case starts the real entry point, as the image does.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { operatorUsage } from "../operator/config.ts";
import { FETCH_MODEL_FLAGS, USAGE as fetchModelUsage } from "../serving/fetch-model/main.ts";
import { serveUsage } from "../serving/cli-options.ts";
import { run, subcommandNames } from "./jude/commands.ts";

const entryPoint = join(import.meta.dirname, "jude.ts");
const subcommands = ["operator", "serve", "nearline", "bootstrap", "fetch-model"];

/** `jude ARGS` in this process: its exit code and what it wrote. */
async function jude(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const written = { stdout: "", stderr: "" };
  const capture = (stream: "stdout" | "stderr") =>
    vi.spyOn(process[stream], "write").mockImplementation((chunk: string | Uint8Array) => {
      written[stream] += String(chunk);
      return true;
    });
  const spies = [capture("stdout"), capture("stderr")];
  try {
    const code = await run(argv);
    return { code, ...written };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

// The first call of a subcommand imports its modules (the operator's controllers, ONNX Runtime for
// serve): seconds on a busy CI machine.
describe("jude <subcommand> --help", { timeout: 60_000 }, () => {
  it("documents the subcommands it dispatches to", () => {
    expect([...subcommandNames()].sort()).toEqual([...subcommands].sort());
  });

  for (const subcommand of subcommands)
    it(`prints the usage of jude ${subcommand} for --help and -h and exits 0`, async () => {
      const long = await jude(subcommand, "--help");
      expect(long).toMatchObject({ code: 0, stderr: "" });
      expect(long.stdout).toMatch(new RegExp(`^usage: jude ${subcommand}`));
      expect(await jude(subcommand, "-h")).toEqual(long);
    });

  it("prints the usage the operator and serve build from their flag tables", async () => {
    expect((await jude("operator", "--help")).stdout).toBe(operatorUsage());
    expect((await jude("serve", "--help")).stdout).toBe(serveUsage());
  });

  it("does so from the real entry point, as the image runs it", async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [entryPoint, "serve", "--help"]);
    expect(stderr).toBe("");
    expect(stdout).toBe(serveUsage());
  });

  it("names in each subcommand's usage every flag it parses", async () => {
    // operator and serve generate theirs from the tables they parse with (operator/config.test.ts,
    // serving/config.test.ts); fetch-model, nearline and bootstrap list theirs by hand.
    for (const flag of FETCH_MODEL_FLAGS) expect(fetchModelUsage).toMatch(new RegExp(`^  --${flag} <`, "m"));
    for (const subcommand of ["nearline", "bootstrap"])
      expect((await jude(subcommand, "--help")).stdout).toMatch(
        new RegExp(`^usage: jude ${subcommand} --config <file>\n`),
      );
  });

  it("with no arguments prints its usage on stderr, as the usage error it is (exit 2)", async () => {
    // A container given no arguments is misconfigured (the image's default arguments are --help): it
    // fails, saying what it takes. The usage went to stdout, unlike every other usage error of jude.
    const failure = await jude();
    expect(failure).toMatchObject({ code: 2, stdout: "" });
    expect(failure.stderr).toMatch(/^usage: jude <command> \[flags\]\n/);
    expect(await jude("bogus")).toMatchObject({ code: 2, stdout: "" });
  });

  it("lists every subcommand in its own usage, and how to get each one's", async () => {
    const { code, stdout } = await jude("--help");
    expect(code).toBe(0);
    for (const subcommand of subcommands) expect(stdout).toMatch(new RegExp(`^  ${subcommand} `, "m"));
    expect(stdout).toContain("jude <command> --help");
  });
});
