// The flags of `kubectl jude` and which command reads which: the command line is checked against it
// (a flag a command does not read is a usage error, never silently ignored) and shell completion
// offers a command's own flags from it.

/** Every flag, as node:util parseArgs takes them (no defaults: a default hides whether it was given). */
export const flagOptions = {
  namespace: { type: "string", short: "n" },
  "all-namespaces": { type: "boolean", short: "A" },
  output: { type: "string", short: "o" },
  context: { type: "string" },
  kubeconfig: { type: "string" },
  "request-timeout": { type: "string" },
  to: { type: "string" },
  port: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export type FlagName = keyof typeof flagOptions;

/** The flags that choose the cluster: read by every command that talks to it. */
const clusterFlags: FlagName[] = ["namespace", "context", "kubeconfig", "request-timeout"];

/** The flags each command reads (--help aside, which every command takes). */
export const commandFlags: Record<string, readonly FlagName[]> = {
  status: ["namespace", "all-namespaces", "output", ...clusterFlags.slice(1)],
  approve: clusterFlags,
  rollback: [...clusterFlags, "to"],
  dashboard: ["namespace", "all-namespaces", "port", ...clusterFlags.slice(1)],
  completion: [],
};

/** What `status -o` writes (kubectl's own `wide`, `name`, `jsonpath` are refused by name). */
export const outputFormats = ["text", "json", "yaml"];

/** The commands, in the order usage and completion list them. */
export const commands = Object.keys(commandFlags);

/** `-n/--namespace`, `--to`: how the usage text names a flag. */
export function flagLabel(name: FlagName): string {
  const short = shortOf(name);
  return short === undefined ? `--${name}` : `-${short}/--${name}`;
}

/** The words completion offers for a flag (both spellings). */
export function flagWords(name: FlagName): string[] {
  const short = shortOf(name);
  return short === undefined ? [`--${name}`] : [`-${short}`, `--${name}`];
}

const shortOf = (name: FlagName): string | undefined => {
  const option: { type: string; short?: string } = flagOptions[name];
  return option.short;
};
