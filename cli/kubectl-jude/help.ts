// The help text of each `kubectl jude` command (`kubectl jude COMMAND --help`), as kubectl prints one
// for each of its commands. The flags listed are the ones the command reads (flags.ts), so its help
// cannot name a flag it refuses nor miss one it takes.
import { commandFlags, flagOptions, type FlagName } from "./flags.ts";

/** How a flag is written in a help text, and what it does (defaults in parentheses). */
const flagHelp: Record<FlagName, { value?: string; text: (command: string) => string }> = {
  namespace: {
    value: "NS",
    text: (command) =>
      `namespace of the ${command === "status" || command === "dashboard" ? "EmbeddingModels" : "EmbeddingModel"} (default: the current context's, else "default")`,
  },
  "all-namespaces": { text: () => "every namespace, instead of one (default false)" },
  output: { value: "FORMAT", text: () => "text, json or yaml (default text)" },
  context: { value: "NAME", text: () => "kubeconfig context to use (default: the current context)" },
  kubeconfig: { value: "FILE", text: () => "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)" },
  "request-timeout": {
    value: "T",
    text: () => "give up on an API request after T: 500ms, 30s, 1h30m or seconds, 30 (default 0: no limit)",
  },
  to: {
    value: "VERSION",
    text: () => "the version to roll back to, as VERSION after MODEL (give one of the two)",
  },
  port: { value: "N", text: () => "port on 127.0.0.1 (default 3100; 0 picks a free one)" },
  help: { text: (command) => `print this help for ${command}` },
};

/** What each command does, the arguments it takes and examples. */
const commandHelp: Record<string, { synopsis: string; about: string; args: string[]; examples: string[] }> = {
  status: {
    synopsis: "status [MODEL] [flags]",
    about: `Print the EmbeddingModels of the namespace, or MODEL alone: versions and phases, promotion gates with
their measured values, pipeline lag, bootstrap progress. Without MODEL, text output also lists
NearlinePipelines and BootstrapRuns that belong to no EmbeddingModel.`,
    args: ["MODEL     an EmbeddingModel name (default: every EmbeddingModel of the namespace)"],
    examples: ["kubectl jude status", "kubectl jude status minilm -n recs", "kubectl jude status -A -o yaml"],
  },
  approve: {
    synopsis: "approve MODEL [VERSION] [flags]",
    about: `Approve the manual cutover of a promotion: sets spec.promotion.approvedVersion of MODEL, then prints
what changed and a next: line; asked for what is already done, it refuses (exit 1).
With Argo CD or Flux, commit the same change: a sync leaves an approvedVersion Git never named set,
unseen in Git, and puts back one Git names otherwise.`,
    args: [
      "MODEL     the EmbeddingModel name",
      "VERSION   the version to approve (default: the version being promoted)",
    ],
    examples: ["kubectl jude approve minilm -n recs", "kubectl jude approve minilm minilm-v2 -n recs"],
  },
  rollback: {
    synopsis: "rollback MODEL [VERSION | --to VERSION] [flags]",
    about: `Set spec.version of MODEL back to a retained version (default: the previous active one). During a
promotion, by default or when VERSION is the active version, abandon the candidate instead: the
spec goes back to the active version's recorded model, prompts and serving settings, so its pods
do not roll. A rollback in flight is abandoned only with VERSION the active version (run again
without one, it refuses rather than undo the rollback). It clears a spec.promotion.approvedVersion
naming the abandoned candidate, or, rolling back, naming any version but the target, so a later
build under that name waits for a new approval. Prints what changed and a next: line; asked for what
is already done, it refuses (exit 1). With Argo CD or Flux, commit the same change (spec.version,
spec.promotion.approvedVersion) or the next sync puts back the spec.version Git names.`,
    args: [
      "MODEL     the EmbeddingModel name",
      "VERSION   the retained version to roll back to (or --to VERSION; default: the previous active one)",
    ],
    examples: ["kubectl jude rollback minilm -n recs", "kubectl jude rollback minilm --to minilm-v1 -n recs"],
  },
  dashboard: {
    synopsis: "dashboard [flags]",
    about: `Serve a live web page of the EmbeddingModels, promotions, pipelines and bootstraps of the namespace
(or every namespace with -A) on 127.0.0.1 only, until Ctrl-C.`,
    args: [],
    examples: ["kubectl jude dashboard -n recs", "kubectl jude dashboard -A --port 0"],
  },
  completion: {
    synopsis: "completion [bash|zsh]",
    about: `Print a shell completion script for the command typed as kubectl-jude (kubectl completes
\`kubectl jude …\` through the kubectl_complete-jude executable).`,
    args: ["SHELL     bash or zsh (default bash)"],
    examples: ["source <(kubectl-jude completion bash)", "source <(kubectl-jude completion zsh)"],
  },
  version: {
    synopsis: "version",
    about: "Print the plugin's version (no cluster needed).",
    args: [],
    examples: ["kubectl jude version"],
  },
};

/** `  -n, --namespace NS` or `      --to VERSION`: a flag's spelling in a help text. */
function flagSpelling(name: FlagName): string {
  const short = (flagOptions[name] as { short?: string }).short;
  const value = flagHelp[name].value;
  return `${short === undefined ? "    " : `-${short}, `}--${name}${value === undefined ? "" : ` ${value}`}`;
}

/** The usage of one command: what it does, its arguments, its flags with their defaults, examples. */
export function commandUsage(command: string): string {
  const help = commandHelp[command];
  const flags = commandFlags[command];
  if (help === undefined || flags === undefined) throw new Error(`no command "${command}"`);
  const names = [...flags, "help" as const];
  const width = Math.max(...names.map((name) => flagSpelling(name).length)) + 2;
  const flagLines = names.map(
    (name) => `  ${flagSpelling(name).padEnd(width)}${flagHelp[name].text(command)}`,
  );
  const examples = help.examples.map((example) => `  ${example}`);
  return [
    `usage: kubectl jude ${help.synopsis}\n`,
    `${help.about}\n`,
    ...(help.args.length > 0 ? [`arguments:\n${help.args.map((arg) => `  ${arg}`).join("\n")}\n`] : []),
    `flags:\n${flagLines.join("\n")}\n`,
    `examples:\n${examples.join("\n")}\n`,
  ].join("\n");
}
