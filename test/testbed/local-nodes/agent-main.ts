// Entry point of the local node agent daemon: `node agent-main.ts <config.json>`; stops on SIGTERM.
import { readFileSync } from "node:fs";
import { runAgent, type AgentConfig } from "./agent.ts";

const configPath = process.argv[2];
if (configPath === undefined) {
  process.stderr.write("usage: agent-main.ts <config.json>\n");
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8")) as AgentConfig;
const controller = new AbortController();
const log = (message: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
};
process.once("SIGTERM", () => controller.abort());
process.once("SIGINT", () => controller.abort());
await runAgent(config, controller.signal, log);
log("local node agent stopped");
