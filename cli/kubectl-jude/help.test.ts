// `kubectl jude COMMAND --help` (and -h, and `kubectl jude help COMMAND`): that command's own usage,
// as kubectl prints for each of its commands: what it does, its arguments, its flags with their
// defaults and examples, on stdout with exit 0, before any kubeconfig is read. The flags listed are
// the flags the command reads (flags.ts), so the help cannot drift from the parser.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { commandFlags, commands, flagOptions, type FlagName } from "./flags.ts";
import { commandUsage } from "./help.ts";

const execFileAsync = promisify(execFile);
const plugin = join(import.meta.dirname, "..", "kubectl-jude.ts");

// No kubeconfig at all: KUBECONFIG names a file that does not exist and HOME has no .kube.
const home = mkdtempSync(join(tmpdir(), "kubectl-jude-help-"));
const noCluster = { ...process.env, HOME: home, KUBECONFIG: join(home, "absent") };

async function run(args: string[]) {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [plugin, ...args], { env: noCluster });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** Matches a flag's line in a help text: `  -n, --namespace NS …` or `      --to VERSION …`. */
const flagLine = (name: FlagName): RegExp => {
  const short = (flagOptions[name] as { short?: string }).short;
  return new RegExp(`^ {2}${short === undefined ? " {4}" : `-${short}, `}--${name}\\b`, "m");
};

describe("each command's help text", () => {
  it("lists exactly the flags the command reads, and --help", () => {
    for (const command of commands) {
      const text = commandUsage(command);
      expect(text).toMatch(new RegExp(`^usage: kubectl jude ${command}\\b`));
      for (const name of [...commandFlags[command]!, "help" as const]) expect(text).toMatch(flagLine(name));
      for (const name of Object.keys(flagOptions) as FlagName[])
        if (name !== "help" && !commandFlags[command]!.includes(name))
          expect(text).not.toMatch(flagLine(name));
      expect(text).toMatch(/\nexamples:\n {2}\S/);
    }
  });

  it("names the defaults of the flags that have one", () => {
    expect(commandUsage("status")).toMatch(/^ {2}-o, --output FORMAT .*\(default text\)/m);
    expect(commandUsage("dashboard")).toMatch(/^ {6}--port N .*\(default 3100/m);
    expect(commandUsage("approve")).toMatch(/^ {6}--request-timeout T .*\(default 0/m);
    expect(commandUsage("rollback")).toMatch(/^ {6}--kubeconfig FILE .*\$KUBECONFIG or ~\/\.kube\/config/m);
    expect(commandUsage("completion")).toMatch(/^usage: kubectl jude completion \[bash\|zsh\]/);
  });
});

// Each case starts the plugin as a process (about 1 s of CPU to load the Kubernetes client).
describe("kubectl jude COMMAND --help", { timeout: 60_000 }, () => {
  it("prints the command's own usage for --help, -h and `help COMMAND`, exit 0, with no kubeconfig", async () => {
    const cases = commands.map((command) => [command, "--help"]);
    cases.push(["approve", "-h"], ["help", "dashboard"], ["--help", "status"]);
    // Flags and arguments before --help do not matter: the help comes first, as in kubectl.
    cases.push(["rollback", "minilm", "--to", "minilm-v1", "-n", "recs", "-h"]);
    const results = await Promise.all(cases.map(run));
    for (const [index, args] of cases.entries()) {
      const command = args.find((word) => commands.includes(word))!;
      expect({ args, ...results[index]! }).toEqual({
        args,
        code: 0,
        stdout: commandUsage(command),
        stderr: "",
      });
    }
  });

  it("refuses help for a command it does not have (exit 2)", async () => {
    const results = await Promise.all([run(["stauts", "--help"]), run(["help", "stauts"])]);
    for (const { code, stderr } of results) {
      expect(code).toBe(2);
      expect(stderr.split("\n")[0]).toBe('kubectl jude: unknown command "stauts"');
    }
  });

  it("follows a usage error of a command with where that command's usage is, as kubectl does", async () => {
    const { code, stderr } = await run(["status", "--port", "8080"]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      "kubectl jude: status does not take --port (its flags: -n/--namespace, -A/--all-namespaces, -o/--output, --context, --kubeconfig, --request-timeout)\n" +
        "See 'kubectl jude status --help' for usage.\n",
    );
  });

  it("points the general help at each command's own", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("kubectl jude <command> --help");
  });
});
