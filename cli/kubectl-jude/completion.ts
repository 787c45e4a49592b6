// Shell completion scripts for `kubectl jude` (bash and zsh), completing commands, flags and model names.

const commands = ["status", "approve", "rollback", "dashboard", "completion"];
const flags = [
  "-n",
  "--namespace",
  "-A",
  "--all-namespaces",
  "-o",
  "--output",
  "--context",
  "--kubeconfig",
  "--port",
  "--help",
];

/** The shells `kubectl jude completion` writes a script for. */
export const completionShells = ["bash", "zsh"];

/** The completion script for a shell. */
export function completionScript(shell: string): string {
  if (shell === "bash") return bash();
  if (shell === "zsh") return `autoload -U +X bashcompinit && bashcompinit\n${bash()}`;
  throw new Error(`unsupported shell "${shell}": use bash or zsh`);
}

function bash(): string {
  return `# kubectl jude completion (bash). Load with: source <(kubectl-jude completion bash)
_kubectl_jude() {
  local current=\${COMP_WORDS[COMP_CWORD]} previous=\${COMP_WORDS[COMP_CWORD-1]}
  case "$previous" in
    -o|--output) COMPREPLY=($(compgen -W "text json" -- "$current")); return ;;
    -n|--namespace) COMPREPLY=($(compgen -W "$(kubectl get namespaces -o name 2>/dev/null | cut -d/ -f2)" -- "$current")); return ;;
  esac
  if [ "$COMP_CWORD" -le 1 ] || { [ "\${COMP_WORDS[0]}" = kubectl ] && [ "$COMP_CWORD" -le 2 ]; }; then
    COMPREPLY=($(compgen -W "${commands.join(" ")}" -- "$current")); return
  fi
  case "$current" in
    -*) COMPREPLY=($(compgen -W "${flags.join(" ")}" -- "$current")) ;;
    *) COMPREPLY=($(compgen -W "$(kubectl get embeddingmodels.jude.dev -o name 2>/dev/null | cut -d/ -f2)" -- "$current")) ;;
  esac
}
complete -F _kubectl_jude kubectl-jude
`;
}
