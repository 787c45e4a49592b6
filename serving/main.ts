/** `jude serve`: the embedding server's process entry point (config, start, drain on SIGTERM, exit code). */
import { createRootLogger } from "../plumbing/logger.ts";
import { watchShutdownSignals } from "../plumbing/shutdown.ts";
import { loadServeConfig, serveUsage } from "./cli-options.ts";
import { ConfigError, type ServingConfig } from "./config.ts";
import { startEmbeddingServer } from "./server.ts";
import { boundHeapGrowth } from "./heap.ts";

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
  boundHeapGrowth();
  const logger = createRootLogger({ component: "serving", level: config.logLevel });
  const shutdown = watchShutdownSignals();
  try {
    let server: Awaited<ReturnType<typeof startEmbeddingServer>>;
    try {
      server = await startEmbeddingServer(config, { logger });
    } catch (error) {
      logger.error({ err: error }, "cannot start the embedding server");
      return 1;
    }
    const loadFailed = server.ready.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => error,
    );
    const outcome = await Promise.race([shutdown.requested, loadFailed]);
    if (typeof outcome !== "string") {
      await server.close();
      return 1;
    }
    logger.info({ signal: outcome }, "shutdown requested");
    // A second signal means "now": the drain is cut short.
    const completed = await Promise.race([
      server.drain(),
      shutdown.forced.then(async () => (await server.close(), false)),
    ]);
    return completed ? 0 : 1;
  } finally {
    shutdown.dispose();
  }
}
