#!/usr/bin/env node
/**
 * The single entry point of the image: `jude <operator|serve|nearline|bootstrap|fetch-model> [flags]`.
 * Each subcommand lives in its own module and is loaded lazily, so `jude serve` never loads the
 * Kubernetes client and `jude operator` never loads ONNX Runtime.
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
  async () => (await import("../operator/main.ts")).main,
);
register(
  "nearline",
  "run a nearline pipeline worker for one embedding version",
  async () => (await import("../pipelines/nearline/main.ts")).main,
);
register("serve", "run the gRPC embedding server", async () => (await import("../serving/main.ts")).main);
register(
  "fetch-model",
  "download and verify a model artifact (init container)",
  async () => (await import("../serving/fetch-model/main.ts")).main,
);
register(
  "bootstrap",
  "back-fill one shard of an embedding version (one Indexed Job index)",
  async () => (await import("../pipelines/bootstrap/main.ts")).main,
);

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, { summary }]) => `  ${name.padEnd(12)} ${summary}`);
  return `usage: jude <command> [flags]\n\ncommands:\n${lines.join("\n")}\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = subcommands[name];
  if (command === undefined) {
    process.stderr.write(`jude: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const main = await command.load();
  return main(rest);
}

process.exitCode = await run(process.argv.slice(2));
