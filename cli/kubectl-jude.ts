#!/usr/bin/env node
/**
 * `kubectl jude` (the `kubectl-jude` executable on PATH): status of embedding models and their
 * promotions, manual cutover approval, rollback, shell completion. Talks to the cluster with the
 * user's kubeconfig and permissions. Exit codes: 0 done, 1 refused or failed, 2 usage error.
 */
import { parseArgs } from "node:util";
import { stringify as toYaml } from "yaml";
import { abandonApplied, approve, rollback, type Decision } from "./kubectl-jude/actions.ts";
import { Cluster, parseRequestTimeout, PluginError } from "./kubectl-jude/cluster.ts";
import { completionScript, completionShells } from "./kubectl-jude/completion.ts";
import { commandUsage } from "./kubectl-jude/help.ts";
import {
  commandFlags,
  flagLabel,
  flagOptions,
  leadingCommand,
  outputFormats,
  splitShortFlagValues,
  type FlagName,
} from "./kubectl-jude/flags.ts";
import { SERVER_VERSION } from "../serving/version.ts";
import { runDashboard } from "./kubectl-jude/dashboard/command.ts";
import {
  statusDocument,
  statusView,
  unattachedBootstrapRuns,
  unattachedPipelines,
} from "./kubectl-jude/status-view.ts";
import { printable, renderStatus } from "./kubectl-jude/status-text.ts";
import { didYouMean } from "./kubectl-jude/suggest.ts";

const usage = `usage: kubectl jude <command> [flags]

commands:
  status [MODEL]            versions, phases, promotion gates with their values, pipeline lag, bootstrap progress
  approve MODEL [VERSION]   approve the manual cutover to VERSION (default: the version being promoted)
  rollback MODEL [--to V]   set spec.version back to a retained version (default: the previous active one);
                            during a promotion, by default or --to the active version: abandon the
                            candidate (the spec back to the active version's recorded model, prompts
                            and serving settings, so its pods do not roll); a rollback in flight only
                            with --to the active version
  dashboard                 a live web page of models, promotions, pipelines and bootstraps (loopback only)
  completion bash|zsh       print a shell completion script
  version                   print the plugin's version

flags (a command refuses a flag it does not read; completion and version take none):
  -n, --namespace NS        namespace (default: the current context's)
  -A, --all-namespaces      status and dashboard across all namespaces (approve and rollback refuse it)
  -o, --output FORMAT       output format of status: text (default), json or yaml
      --to VERSION          rollback: the version to roll back to (or give it after MODEL)
      --port N              dashboard port on 127.0.0.1 (default 3100; 0 picks a free one)
      --context NAME        kubeconfig context
      --kubeconfig FILE     kubeconfig file (default: $KUBECONFIG or ~/.kube/config)
      --request-timeout T   give up on an API request after T (a Go duration: 500ms, 30s, 1h30m; or
                            seconds: 30; 0, the default: no limit)
  -h, --help                print this help; kubectl jude <command> --help (or help <command>)
                            prints that command's usage, flags, defaults and examples

exit codes: 0 done (and this help, with no command), 1 refused or failed (the reason is on stderr),
2 usage error

approve and rollback change the EmbeddingModel like a Git commit would; with Argo CD or Flux, commit
the same change (spec.promotion.approvedVersion, spec.version): a sync puts back a field Git names
otherwise (a rollback's spec.version) and leaves one Git never named (an approval) set, unseen in Git.
`;

class UsageError extends Error {}

// `kubectl jude status | head -1`: the reader is gone and wants no more; stop quietly, as kubectl
// does, not with "Unhandled 'error' event" and a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});
// An error line whose reader is gone (`2>&1 | head -1`) can be told to no one: the exit code still says
// what happened (2 for a usage error), where the unhandled EPIPE made it 1.
process.stderr.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

/**
 * The line after a usage error, as kubectl's: where the usage is. The command's own help once the
 * command line names one that exists, even when its flags are what is wrong.
 */
let usageHint = "See 'kubectl jude --help' for usage.";

async function run(argv: string[]): Promise<number> {
  const words = splitShortFlagValues(argv);
  // The command is found before the flags are checked, so that an error in them is that command's.
  // An unknown flag before it is the first thing wrong: the word after it may be its value.
  const { command: named, unknownFlag } = leadingCommand(words);
  if (unknownFlag !== undefined) throw new UsageError(`unknown flag "${unknownFlag}"`);
  if (named !== undefined && commandFlags[named] !== undefined)
    usageHint = `See 'kubectl jude ${named} --help' for usage.`;
  // A command that does not exist is the first thing wrong, before any flag after it.
  else if (named !== undefined && named !== "help") throw new UsageError(`unknown command "${named}"`);
  const { values, positionals, tokens } = parseFlags(words, named);
  const [command, ...args] = positionals;
  // No command prints the help and succeeds, as `kubectl` (and a Cobra plugin) does with none.
  if (command === undefined || (command === "help" && args[0] === undefined)) {
    process.stdout.write(usage);
    return 0;
  }
  // `COMMAND --help`, `COMMAND -h`, `help COMMAND`: that command's usage, before anything is checked
  // or read (no kubeconfig needed), as kubectl prints for each of its commands.
  const helpFor = command === "help" ? args[0]! : values.help ? command : undefined;
  if (helpFor !== undefined) {
    if (commandFlags[helpFor] === undefined) throw new UsageError(`unknown command "${helpFor}"`);
    if (command === "help" && args[1] !== undefined)
      throw new UsageError(`help takes one command, not also "${args[1]}"`);
    process.stdout.write(commandUsage(helpFor));
    return 0;
  }
  const flags = commandFlags[command];
  if (flags === undefined) throw new UsageError(`unknown command "${command}"`);
  // Silently ignored, -A sent the command to the current namespace and blamed a missing model.
  if ((command === "approve" || command === "rollback") && values["all-namespaces"] === true)
    throw new UsageError(`${command} changes one EmbeddingModel: name its namespace with -n, not -A`);
  // A flag the command does not read would do nothing (`status --port`, `approve -o json`): refused.
  const foreign = tokens.find(
    (token) => token.kind === "option" && token.name !== "help" && !flags.includes(token.name as FlagName),
  );
  if (foreign?.kind === "option")
    throw new UsageError(
      `${command} does not take ${flagLabel(foreign.name as FlagName)} (its flags: ${flags.map(flagLabel).join(", ") || "none"})`,
    );
  checkArguments(command, args, values.to);
  if (command === "completion") {
    const shell = args[0] ?? "bash";
    if (!completionShells.includes(shell))
      throw new UsageError(
        `unsupported shell "${shell}" for completion: use ${completionShells.join(" or ")}`,
      );
    process.stdout.write(completionScript(shell));
    return 0;
  }
  if (command === "version") {
    process.stdout.write(`kubectl-jude ${SERVER_VERSION}\n`);
    return 0;
  }
  values.output ??= "text";
  values["request-timeout"] ??= "0";
  values.port ??= "3100";
  if (!outputFormats.includes(values.output))
    throw new UsageError(
      `unknown output format "${values.output}" (status writes ${outputFormats.slice(0, -1).join(", ")} or ${outputFormats.at(-1)})`,
    );
  const requestTimeoutMs = parseRequestTimeout(values["request-timeout"]);
  if (requestTimeoutMs === undefined)
    throw new UsageError(
      `--request-timeout must be a duration such as 30s, 1m or 0 (no limit), not "${values["request-timeout"]}"`,
    );
  // Usage errors before the kubeconfig is read: a command line that cannot work is said to be so.
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535)
    throw new UsageError(`--port must be a port number, not "${values.port}"`);
  const cluster = new Cluster({
    requestTimeoutMs,
    ...(values.kubeconfig !== undefined && { kubeconfig: values.kubeconfig }),
    ...(values.context !== undefined && { context: values.context }),
  });
  // `-n ""` (an unset variable in `-n "$NS"`) is the context's namespace, as kubectl reads it; as a
  // namespace of its own it listed every namespace.
  const namespace = values.namespace || cluster.currentNamespace();
  switch (command) {
    case "status": {
      const allNamespaces = values["all-namespaces"] === true;
      const scope = allNamespaces ? "in any namespace" : `in namespace ${namespace}`;
      const objects = await cluster.readAll(allNamespaces ? undefined : namespace);
      const models = statusView(objects, args[0]);
      if (args[0] !== undefined && models.length === 0)
        throw new PluginError(
          `EmbeddingModel ${args[0]} not found ${scope}${didYouMean(
            args[0],
            objects.models.map((model) => model.metadata.name),
          )}`,
        );
      if (values.output === "text")
        process.stdout.write(
          args[0] === undefined
            ? renderStatus(models, scope, unattachedPipelines(objects), unattachedBootstrapRuns(objects))
            : renderStatus(models, scope),
        );
      else {
        const document = statusDocument(objects, args[0]);
        process.stdout.write(
          values.output === "json"
            ? `${JSON.stringify(document, null, 2)}\n`
            : toYaml(document, { lineWidth: 0 }),
        );
      }
      return 0;
    }
    case "dashboard": {
      await runDashboard({ cluster, namespace: values["all-namespaces"] ? undefined : namespace, port });
      return 0;
    }
    case "approve":
    case "rollback": {
      const name = args[0]!;
      // An abandon is written only onto the object it was decided on: had the candidate become
      // active meanwhile, the same spec would be a rollback that moves readers; decided again then.
      let abandoning: Exclude<Decision, { refused: string }> | undefined;
      for (let attempt = 1; ; attempt += 1) {
        const model = await cluster.readModel(namespace, name);
        // The 409 may have been the abandon's own write, applied by a try whose answer was lost.
        if (abandoning !== undefined && abandonApplied(model, abandoning)) {
          process.stdout.write(`${abandoning.summary}\nnext: ${abandoning.next}\n`);
          return 0;
        }
        if (abandoning !== undefined && attempt > 3)
          throw new PluginError(
            `${name} kept changing while the abandon of ${abandoning.abandons} was decided; nothing was changed; run it again`,
          );
        const decision: Decision =
          command === "approve"
            ? approve(model, args[1])
            : rollback(model, values.to ?? args[1], await cluster.readVersionRecords(namespace, model));
        if ("refused" in decision) throw new PluginError(decision.refused);
        if (decision.abandons !== undefined) abandoning = decision;
        // Said on stderr, as kubectl says its warnings, before the change is made.
        if (decision.warning !== undefined && attempt === 1)
          process.stderr.write(`Warning: ${decision.warning}\n`);
        const precondition = decision.abandons !== undefined ? model.metadata.resourceVersion : undefined;
        if (!(await cluster.patchModelSpec(namespace, name, decision.patch, precondition))) continue;
        process.stdout.write(`${decision.summary}\nnext: ${decision.next}\n`);
        return 0;
      }
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * The command line parsed against every flag; node:util's words for a flag it does not know (advice on
 * positionals after "--") or a value missing are said plainly, naming the command's own flags.
 */
function parseFlags(words: string[], command: string | undefined) {
  try {
    return parseArgs({ args: words, allowPositionals: true, tokens: true, options: flagOptions });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const flags = command === undefined ? undefined : commandFlags[command];
    const unknown =
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /^Unknown option '([^']+)'/.exec(message)?.[1] : undefined;
    if (unknown !== undefined)
      throw new UsageError(
        `unknown flag "${unknown}"${flags === undefined ? "" : ` for ${command} (its flags: ${flags.map(flagLabel).join(", ") || "none"})`}`,
      );
    const name = /--([a-z-]+)/.exec(message)?.[1] as FlagName | undefined;
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && name !== undefined && name in flagOptions)
      throw new UsageError(
        / argument missing$/.test(message)
          ? `${flagLabel(name)} needs a value`
          : `${flagLabel(name)} takes no value (give it alone to turn it on)`,
      );
    throw error;
  }
}

/** Refuses positional arguments a command would ignore (a second model name, a version given twice). */
function checkArguments(command: string, args: string[], to: string | undefined): void {
  const limits: Record<string, [number, string]> = {
    status: [1, "status takes at most one EmbeddingModel name"],
    approve: [2, "approve takes an EmbeddingModel name and at most a version"],
    rollback: [2, "rollback takes an EmbeddingModel name and at most a version"],
    dashboard: [0, "dashboard takes no arguments"],
    completion: [1, "completion takes one shell"],
    version: [0, "version takes no arguments"],
  };
  if ((command === "approve" || command === "rollback") && args[0] === undefined)
    throw new UsageError(`${command} needs the name of an EmbeddingModel`);
  const [most, what] = limits[command]!;
  const extra = args[most];
  if (extra !== undefined)
    throw new UsageError(
      most > 0
        ? `${what}, not also "${extra}"`
        : `${what}, not "${extra}"${command === "dashboard" ? ` (a namespace is -n ${extra})` : ""}`,
    );
  if (command === "rollback" && to !== undefined && args[1] !== undefined)
    throw new UsageError(`rollback takes the version once: as --to ${to} or as ${args[1]}, not both`);
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  // A usage error is one line and where the usage is, as kubectl says it (exit 2).
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    process.stderr.write(`kubectl jude: ${printable((error as Error).message)}\n${usageHint}\n`);
    process.exitCode = 2;
  } else if (error instanceof PluginError) {
    // The message may quote the API server (a Status, a webhook's denial): its control characters are
    // made visible as in the status text, so that none reaches the terminal.
    process.stderr.write(`kubectl jude: ${printable(error.message)}\n`);
    process.exitCode = 1;
  } else throw error;
}
