// Shell completion scripts for `kubectl jude` (bash and zsh), completing commands, flags and model names.
import { commandFlags, commands, flagOptions, flagWords, outputFormats, type FlagName } from "./flags.ts";

/** Every flag, for words before the command. */
const allFlags = (Object.keys(flagOptions) as FlagName[]).flatMap(flagWords);
/** A command's own flags (it refuses the others), and --help. */
const flagsOf = (command: string): string[] =>
  [...commandFlags[command]!, "help" as const].flatMap(flagWords);

/** The shells `kubectl jude completion` writes a script for. */
export const completionShells = ["bash", "zsh"];

/** The completion script for a shell. */
export function completionScript(shell: string): string {
  if (shell === "bash") return bash();
  // bashcompinit needs compinit's compdef; a zsh without a completion setup has none.
  if (shell === "zsh")
    return `(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\nautoload -U +X bashcompinit && bashcompinit\n${bash()}`;
  throw new Error(`unsupported shell "${shell}": use bash or zsh`);
}

function bash(): string {
  // The words typed so far decide what fits: flag values (-n, --context, --kubeconfig) are read so
  // that model names come from the namespace and cluster the command will use.
  return `# kubectl jude completion (bash). Load with: source <(kubectl-jude completion bash)
_kubectl_jude() {
  local current=\${COMP_WORDS[COMP_CWORD]} previous=\${COMP_WORDS[COMP_CWORD-1]}
  local -a cluster=() namespace=() positionals=()
  local i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    case "$word" in
      -n|--namespace) namespace=(--namespace "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      --namespace=*) namespace=("$word") ;;
      -n=*) namespace=(--namespace "\${word#-n=}") ;;
      --context|--kubeconfig|--request-timeout) cluster+=("$word" "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      --context=*|--kubeconfig=*|--request-timeout=*) cluster+=("$word") ;;
      -o|--output|--port|--to) ((i++)) ;;
      -*) ;;
      *) positionals+=("$word") ;;
    esac
  done
  case "$previous" in
    -o|--output) COMPREPLY=($(compgen -W "${outputFormats.join(" ")}" -- "$current")); return ;;
    -n|--namespace) COMPREPLY=($(compgen -W "$(kubectl "\${cluster[@]}" get namespaces -o name 2>/dev/null | cut -d/ -f2)" -- "$current")); return ;;
    --context) COMPREPLY=($(compgen -W "$(kubectl "\${cluster[@]}" config get-contexts -o name 2>/dev/null)" -- "$current")); return ;;
    --kubeconfig) COMPREPLY=($(compgen -f -- "$current")); return ;;
    --port|--to|--request-timeout) return ;;
  esac
  if [[ "$current" == -* ]]; then
    case "\${positionals[0]}" in
${commands.map((command) => `      ${command}) COMPREPLY=($(compgen -W "${flagsOf(command).join(" ")}" -- "$current")) ;;`).join("\n")}
      *) COMPREPLY=($(compgen -W "${allFlags.join(" ")}" -- "$current")) ;;
    esac
    return
  fi
  case "\${#positionals[@]}:\${positionals[0]}" in
    0:) COMPREPLY=($(compgen -W "${commands.join(" ")}" -- "$current")) ;;
    1:completion) COMPREPLY=($(compgen -W "${completionShells.join(" ")}" -- "$current")) ;;
    1:status|1:approve|1:rollback)
      COMPREPLY=($(compgen -W "$(kubectl "\${cluster[@]}" "\${namespace[@]}" get embeddingmodels.jude.dev -o name 2>/dev/null | cut -d/ -f2)" -- "$current")) ;;
  esac
}
complete -F _kubectl_jude kubectl-jude
`;
}
