#!/usr/bin/env node
/**
 * `kubectl_complete-jude`: what kubectl (1.26+) runs to complete the arguments of `kubectl jude …`;
 * the script of `kubectl jude completion bash` only hooks `kubectl-jude` typed by its own name. kubectl
 * passes the words after `jude`, the last being the one completed (empty for a new word), and reads
 * one candidate per line, then Cobra's directive. The same bash function decides, so both ways of
 * typing the command are offered the same commands, flags and model names.
 */
import { spawnSync } from "node:child_process";
import { completionScript } from "./kubectl-jude/completion.ts";

/** cobra.ShellCompDirectiveNoFileComp: offer what is printed, never the current folder's files. */
const noFileCompletion = 4;

const completion = spawnSync(
  "bash",
  [
    "-c",
    `${completionScript("bash")}\nCOMP_WORDS=(kubectl-jude "$@"); COMP_CWORD=$#; _kubectl_jude; (( \${#COMPREPLY[@]} )) && printf '%s\\n' "\${COMPREPLY[@]}"`,
    "bash",
    ...process.argv.slice(2),
  ],
  { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
);
process.stdout.write(`${completion.stdout ?? ""}:${noFileCompletion}\n`);
