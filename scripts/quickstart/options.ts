// Command line of `npm run quickstart`: `up` (the default) runs the story, `down` stops everything the
// quickstart started; `--non-interactive` never waits for the user (CI, the e2e test).
import { parseArgs } from "node:util";

export interface QuickstartOptions {
  /** `help`: print the usage and do nothing else. */
  command: "up" | "down" | "help";
  interactive: boolean;
  namespace: string;
  dashboardPort: number;
  kind: boolean;
}

export const quickstartUsage = `usage: npm run quickstart [-- up|down] [--non-interactive] [--dashboard-port N] [--namespace NS]

  up (default)        provision the testbed, install the operator with Helm, run the story, print a summary
  down                remove what up made: the operator release, the quickstart namespace (and
                      jude-system if up created it), each run's Kafka topics, consumer groups and
                      store keys; stop the testbed components up started (a testbed that was
                      already up stays up); running it again is harmless
  --non-interactive   do not wait for Enter between acts; exit after the summary (leaves things up)
  --dashboard-port N  port of the dashboard on 127.0.0.1 (default 3100; 0 picks a free one)
  --namespace NS      namespace of the quickstart objects (default jude-quickstart)
  --kind              not implemented yet (a kind cluster needs Docker and kind); exits 2
  -h, --help          print this and exit
`;

/** Parses the arguments after `npm run quickstart --`. */
export function parseQuickstartArgs(argv: string[], isTty: boolean): QuickstartOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "non-interactive": { type: "boolean", default: false },
        "dashboard-port": { type: "string", default: "3100" },
        namespace: { type: "string", default: "jude-quickstart" },
        kind: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${quickstartUsage}`, { cause: error });
  }
  const { values, positionals } = parsed;
  const command = values.help ? "help" : (positionals[0] ?? "up");
  if (command !== "up" && command !== "down" && command !== "help")
    throw new Error(`unknown command "${command}"\n\n${quickstartUsage}`);
  if (positionals.length > 1)
    throw new Error(`unexpected argument "${positionals[1]}"\n\n${quickstartUsage}`);
  const port = Number(values["dashboard-port"]);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--dashboard-port must be a port number, not "${values["dashboard-port"]}"`);
  return {
    command,
    interactive: isTty && !values["non-interactive"],
    namespace: values.namespace,
    dashboardPort: port,
    kind: values.kind,
  };
}
