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
  version: [],
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

/**
 * `-n=recs` as kubectl (pflag) reads it, `-n recs`: node:util parseArgs would take "=recs" as the
 * value. Only the short form of a flag with a value is split; a word that is the value of the flag
 * before it, and everything after `--`, are left as they are.
 */
export function splitShortFlagValues(argv: string[]): string[] {
  const options: Record<string, { type: string; short?: string }> = flagOptions;
  const takesValue = (name: string | undefined) => name !== undefined && options[name]?.type === "string";
  const shortName = (letter: string) => Object.keys(options).find((name) => options[name]!.short === letter);
  const result: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const word = argv[index]!;
    if (word === "--") return [...result, ...argv.slice(index)];
    const short = /^-([A-Za-z])=(.*)$/s.exec(word);
    if (short !== null && takesValue(shortName(short[1]!))) {
      result.push(`-${short[1]}`, short[2]!);
      continue;
    }
    result.push(word);
    // `-n VALUE`, `--namespace VALUE`: the next word is a value, whatever it looks like.
    const flag = /^-([A-Za-z])$/.exec(word)?.[1] ?? /^--([a-z-]+)$/.exec(word)?.[1];
    const name = flag === undefined ? undefined : flag.length === 1 ? shortName(flag) : flag;
    if (takesValue(name) && index + 1 < argv.length) result.push(argv[(index += 1)]!);
  }
  return result;
}

/**
 * The command: the first word that is neither a flag nor a known flag's value (`-n recs status`,
 * `-A status`). A flag it does not know before it ends the search, as `unknownFlag`: whether that
 * flag takes the next word as its value cannot be told, so no word after it is taken for the command
 * (`--foo bar status` is an unknown flag, not the unknown command "bar"). `words` as
 * splitShortFlagValues left them.
 */
export function leadingCommand(words: readonly string[]): { command?: string; unknownFlag?: string } {
  const options: Record<string, { type: string; short?: string }> = flagOptions;
  const known = (flag: string) =>
    flag.startsWith("--")
      ? options[flag.slice(2)]
      : Object.values(options).find((option) => option.short === flag.slice(1));
  for (let index = 0; index < words.length; index += 1) {
    const word = words[index]!;
    if (word === "--") return words[index + 1] === undefined ? {} : { command: words[index + 1]! };
    if (!word.startsWith("-") || word === "-") return { command: word };
    const [flag = word, value] = word.split(/=(.*)/s, 2);
    // `-An recs`: short flags grouped, as parseArgs reads them (only the last may take a value).
    const group = /^-[A-Za-z]{2,}$/.test(flag) ? [...flag.slice(1)].map((letter) => `-${letter}`) : [flag];
    const unknown = group.find((each) => known(each) === undefined);
    if (unknown !== undefined) return { unknownFlag: unknown };
    if (known(group.at(-1)!)!.type === "string" && value === undefined) index += 1;
  }
  return {};
}
