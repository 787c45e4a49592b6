// The bash completion script runs in bash; the zsh one in the testbed's zsh
// (test/integration/kubectl-plugin/completion-zsh.test.ts).
import { execFileSync } from "node:child_process";
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

describe("kubectl jude completion", () => {
  it("offers commands (after leading flags too), shells after 'completion', and every flag", () => {
    expect(bashComplete("kubectl-jude", "")).toBe("status approve rollback dashboard completion version");
    expect(bashComplete("kubectl-jude", "-n", "recs", "ro")).toBe("rollback");
    expect(bashComplete("kubectl-jude", "completion", "")).toBe("bash zsh");
    expect(bashComplete("kubectl-jude", "rollback", "minilm", "--t")).toBe("--to");
    expect(bashComplete("kubectl-jude", "status", "-o", "")).toBe("text json yaml");
    expect(bashComplete("kubectl-jude", "--req")).toBe("--request-timeout");
    // The flag's value is not taken for the command.
    expect(bashComplete("kubectl-jude", "--request-timeout", "5s", "st")).toBe("status");
  });

  it("offers after a command only the flags it reads (it refuses the others)", () => {
    expect(bashComplete("kubectl-jude", "status", "--")).toBe(
      "--namespace --all-namespaces --output --context --kubeconfig --request-timeout --help",
    );
    expect(bashComplete("kubectl-jude", "dashboard", "--p")).toBe("--port");
    expect(bashComplete("kubectl-jude", "status", "--p")).toBe("");
    expect(bashComplete("kubectl-jude", "approve", "minilm", "--")).toBe(
      "--namespace --context --kubeconfig --request-timeout --help",
    );
    expect(bashComplete("kubectl-jude", "completion", "-")).toBe("-h --help");
    // Before the command: any flag.
    expect(bashComplete("kubectl-jude", "--p")).toBe("--port");
  });
});

describe("kubectl_complete-jude", () => {
  /** What kubectl reads from it for the words typed after `kubectl jude`. */
  const kubectlComplete = (...words: string[]) =>
    execFileSync(process.execPath, [join(import.meta.dirname, "../kubectl-complete-jude.ts"), ...words], {
      encoding: "utf8",
    });

  it("answers kubectl's plugin completion: one candidate a line, then Cobra's no-file directive", () => {
    expect(kubectlComplete("")).toBe("status\napprove\nrollback\ndashboard\ncompletion\nversion\n:4\n");
    expect(kubectlComplete("-n", "recs", "ro")).toBe("rollback\n:4\n");
    expect(kubectlComplete("status", "-o", "")).toBe("text\njson\nyaml\n:4\n");
    expect(kubectlComplete("rollback", "minilm", "--to", "")).toBe(":4\n");
  });
});
