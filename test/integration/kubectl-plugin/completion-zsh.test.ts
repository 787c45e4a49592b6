// The plugin's zsh completion script runs in a real zsh (the testbed installs it with the chart tools).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { completionScript } from "../../../cli/kubectl-jude/completion.ts";
import { requireEnv } from "../../support/env.ts";

it("registers itself in a zsh without a completion setup of its own", () => {
  // zsh -f reads no startup files: no compinit, so no compdef for bashcompinit's `complete`.
  const output = execFileSync(
    requireEnv("JUDE_ZSH"),
    ["-f", "-c", `${completionScript("zsh")}\nprint -r -- "\${_comps[kubectl-jude]}"`],
    { encoding: "utf8", env: { ...process.env, HOME: mkdtempSync(join(tmpdir(), "zsh-home-")) } },
  );
  expect(output.trim()).toBe("_bash_complete -F _kubectl_jude");
});
