/**
 * The subcommands of `jude` (cli/jude.ts, the image's entry point) and their dispatch, apart from the
 * entry point so that tests run it in-process. Each subcommand lives in its own module and is loaded
 * lazily, so `jude serve` never loads the Kubernetes client and `jude operator` never loads ONNX Runtime.
 */
type Main = (argv: string[]) => Promise<number>;

const subcommands: Record<string, { summary: string; load: () => Promise<Main> }> = {};

/** Registers a subcommand; modules are imported only when that subcommand runs. */
export function register(name: string, summary: string, load: () => Promise<Main>): void {
  subcommands[name] = { summary, load };
}

register(
  "operator",
  "run the operator: reconcile EmbeddingModels, NearlinePipelines and BootstrapRuns",
  async () => (await import("../../operator/main.ts")).main,
);
register(
  "nearline",
  "run a nearline pipeline worker for one embedding version",
  async () => (await import("../../pipelines/nearline/main.ts")).main,
);
register("serve", "run the gRPC embedding server", async () => (await import("../../serving/main.ts")).main);
register(
  "fetch-model",
  "download and verify a model artifact (init container)",
  async () => (await import("../../serving/fetch-model/main.ts")).main,
);
register(
  "bootstrap",
  "back-fill one shard of an embedding version (one Indexed Job index)",
  async () => (await import("../../pipelines/bootstrap/main.ts")).main,
);

/** The names of the subcommands, in the order the usage lists them. */
export function subcommandNames(): string[] {
  return Object.keys(subcommands);
}

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, { summary }]) => `  ${name.padEnd(12)} ${summary}`);
  return `usage: jude <command> [flags]\n       jude --version\n\ncommands:\n${lines.join("\n")}\n\njude <command> --help prints a command's flags.\n`;
}

/**
 * Runs `jude` with its arguments (without node and the script); returns the exit code. `beforeLoad`
 * runs just before a subcommand's module is imported: the entry point turns on V8's code cache there.
 */
export async function run(argv: string[], beforeLoad: () => void = () => undefined): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "version") {
    process.stdout.write(`jude ${(await import("../../serving/version.ts")).SERVER_VERSION}\n`);
    return 0;
  }
  if (name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return 0;
  }
  // No arguments: a container run without the image's default ones (--help), a misconfiguration, so
  // a usage error (exit 2, the usage on stderr as with an unknown command) rather than a success.
  if (name === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  const command = subcommands[name];
  if (command === undefined) {
    process.stderr.write(`jude: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  beforeLoad();
  const main = await command.load();
  return main(rest);
}
