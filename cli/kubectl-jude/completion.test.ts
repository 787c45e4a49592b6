// The completion scripts run in the shells they are for: bash always, zsh where it is installed.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { completionScript } from "./completion.ts";

/** What the bash function offers for the words typed so far (the last one being completed). */
function bashComplete(...words: string[]): string {
  return execFileSync(
    "bash",
    [
      "-c",
      `${completionScript("bash")}\nCOMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _kubectl_jude; echo "\${COMPREPLY[*]}"`,
      "bash",
      ...words,
    ],
    { encoding: "utf8" },
  ).trim();
}

const zsh = ["/usr/bin/zsh", "/bin/zsh"].find((path) => existsSync(path));
// The zsh script can only be run where zsh is installed. A developer's machine without zsh skips this
// one case (the bash case above still runs); CI must run it, so there a missing zsh is a failure.
const zshRequired = process.env.CI !== undefined;

describe("kubectl jude completion", () => {
  it("offers commands (after leading flags too), shells after 'completion', and every flag", () => {
    expect(bashComplete("kubectl-jude", "")).toBe("status approve rollback dashboard completion");
    expect(bashComplete("kubectl-jude", "-n", "recs", "ro")).toBe("rollback");
    expect(bashComplete("kubectl-jude", "completion", "")).toBe("bash zsh");
    expect(bashComplete("kubectl-jude", "rollback", "minilm", "--t")).toBe("--to");
    expect(bashComplete("kubectl-jude", "status", "-o", "")).toBe("text json");
  });

  it.skipIf(zsh === undefined && !zshRequired)(
    "registers itself in a zsh without a completion setup of its own",
    () => {
      if (zsh === undefined)
        throw new Error("zsh is not installed (apt-get install zsh); CI runs the zsh completion");
      // zsh -f reads no startup files: no compinit, so no compdef for bashcompinit's `complete`.
      const output = execFileSync(
        zsh!,
        ["-f", "-c", `${completionScript("zsh")}\nprint -r -- "\${_comps[kubectl-jude]}"`],
        { encoding: "utf8", env: { ...process.env, HOME: mkdtempSync(join(tmpdir(), "zsh-home-")) } },
      );
      expect(output.trim()).toBe("_bash_complete -F _kubectl_jude");
    },
  );
});
