import { pino } from "pino";
import { loadServeConfig, serveUsage } from "./cli-options.ts";
import { ConfigError, type ServingConfig } from "./config.ts";
import { startEmbeddingServer } from "./server.ts";

/**
 * `jude serve`: parse the config, start the server, and on SIGTERM (or SIGINT) drain within the
 * grace period and return. Exit codes: 0 after a complete drain, 1 when the model failed to load or
 * the drain timed out, 2 for a usage or config error.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(serveUsage());
    return 0;
  }
  let config: ServingConfig;
  try {
    config = await loadServeConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`jude serve: ${error.message}\n\n${serveUsage()}`);
    return 2;
  }
  const logger = pino({ level: config.logLevel });
  let server: Awaited<ReturnType<typeof startEmbeddingServer>>;
  try {
    server = await startEmbeddingServer(config, { logger });
  } catch (error) {
    logger.error({ err: error }, "cannot start the embedding server");
    return 1;
  }

  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  const loadFailed = server.ready.then(
    () => new Promise<never>(() => {}),
    (error: unknown) => error,
  );
  const outcome = await Promise.race([stopRequested, loadFailed]);
  if (typeof outcome !== "string") {
    await server.close();
    return 1;
  }
  logger.info({ signal: outcome }, "shutdown requested");
  // A second signal means "now": the drain is cut short.
  const forced = new Promise<boolean>((resolve) => {
    process.once("SIGTERM", () => resolve(false));
    process.once("SIGINT", () => resolve(false));
  });
  const completed = await Promise.race([
    server.drain(),
    forced.then(async () => (await server.close(), false)),
  ]);
  return completed ? 0 : 1;
}
