/**
 * `npm run testbed -- up|down|status|env [component…]`: provision (cached) and run the real
 * components that integration and end-to-end tests use.
 */
import { execFileSync } from "node:child_process";
import {
  componentNames,
  down,
  environment,
  overrides,
  parseComponentNames,
  provision,
  status,
  up,
} from "./index.ts";
import { localPodLines, parseLogsArgs, readContainerLog } from "./local-nodes/cli-commands.ts";

const usage = `usage: npm run testbed -- <up|provision|down|status|env> [component…]
       npm run testbed -- logs POD [-n NAMESPACE] [-c CONTAINER] [--previous]
       npm run testbed -- service NAME [-n NAMESPACE]

components: ${componentNames.join(", ")} (default: all)
  up         provision what is missing (cached), start, wait until ready; a no-op for running components
  provision  only fill the cache (build and download what is missing); starts nothing
  down       stop components and remove their runtime state
  status     say whether each component is ready (exit 0 only when all are)
  env        print shell exports: eval "$(npm run -s testbed -- env)"
  logs       print a local pod's container log (local-nodes)
  service    print a Service's host-reachable address(es), ClusterIP:port (local-nodes)

overrides (environment variables):
${Object.entries(overrides())
  .map(([name, meaning]) => `  ${name.padEnd(26)} ${meaning}`)
  .join("\n")}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up": {
      const { started, env } = await up(parseComponentNames(rest));
      console.log(started.length > 0 ? `started: ${started.join(", ")}` : "already up");
      for (const [name, value] of Object.entries(env)) console.log(`  ${name}=${value}`);
      return 0;
    }
    case "provision":
      await provision(parseComponentNames(rest));
      return 0;
    case "down":
      await down(parseComponentNames(rest));
      return 0;
    case "status": {
      const rows = await status();
      for (const row of rows)
        console.log(`${row.name.padEnd(11)} ${row.status}${row.external ? " (external)" : ""}`);
      for (const line of localPodLines()) console.log(line);
      return rows.every((row) => row.status === "ready") ? 0 : 1;
    }
    case "env":
      for (const [name, value] of Object.entries(environment()))
        console.log(`export ${name}=${shellQuote(value)}`);
      return 0;
    case "logs":
      process.stdout.write(readContainerLog(parseLogsArgs(rest)));
      return 0;
    case "service":
      console.log(serviceAddresses(rest));
      return 0;
    case undefined:
    case "help":
    case "--help":
      console.log(usage);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown testbed command "${command}"\n\n${usage}`);
      return 2;
  }
}

/** A Service's ClusterIP:port list; ClusterIPs are local addresses of this host (see local-nodes). */
function serviceAddresses(args: string[]): string {
  const [name, flag, namespace = "default"] = args;
  if (name === undefined || (flag !== undefined && flag !== "-n"))
    throw new Error("usage: service NAME [-n NAMESPACE]");
  const env = environment();
  if (env.KUBECONFIG === undefined || env.JUDE_KUBECTL === undefined)
    throw new Error("the kube component is not up");
  const service = JSON.parse(
    execFileSync(
      env.JUDE_KUBECTL,
      ["--kubeconfig", env.KUBECONFIG, "get", "service", name, "-n", namespace, "-o", "json"],
      {
        encoding: "utf8",
      },
    ),
  ) as { spec: { clusterIP?: string; ports?: { name?: string; port: number }[] } };
  const ip = service.spec.clusterIP;
  if (ip === undefined || ip === "None")
    throw new Error(`service ${namespace}/${name} has no ClusterIP (headless)`);
  return (service.spec.ports ?? [])
    .map((port) => `${ip}:${port.port}${port.name === undefined ? "" : ` (${port.name})`}`)
    .join("\n");
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
