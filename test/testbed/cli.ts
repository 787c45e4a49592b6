/**
 * `npm run testbed -- up|down|status|env [component…]`: provision (cached) and run the real
 * components that integration and end-to-end tests use.
 */
import { componentNames, down, environment, overrides, parseComponentNames, status, up } from "./index.ts";

const usage = `usage: npm run testbed -- <up|down|status|env> [component…]

components: ${componentNames.join(", ")} (default: all)
  up       provision what is missing (cached), start, wait until ready; a no-op for running components
  down     stop components and remove their runtime state
  status   say whether each component is ready (exit 0 only when all are)
  env      print shell exports: eval "$(npm run -s testbed -- env)"

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
    case "down":
      await down(parseComponentNames(rest));
      return 0;
    case "status": {
      const rows = await status();
      for (const row of rows)
        console.log(`${row.name.padEnd(6)} ${row.status}${row.external ? " (external)" : ""}`);
      return rows.every((row) => row.status === "ready") ? 0 : 1;
    }
    case "env":
      for (const [name, value] of Object.entries(environment()))
        console.log(`export ${name}=${shellQuote(value)}`);
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

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
