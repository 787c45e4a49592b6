/**
 * `jude bootstrap --config <file>`: runs one shard of a BootstrapRun (one index of its Indexed Job).
 *
 * Exit codes, so the Job's podFailurePolicy can tell them apart:
 *   0  the shard's work is completely written (also when it was already done before this start);
 *   1  it failed (the message says why); a rerun resumes from the checkpoint;
 *   2  the command line or the config is invalid: rerunning cannot help;
 *   75 interrupted by SIGTERM/SIGINT (EX_TEMPFAIL), checkpointed `interrupted` within seconds (waits
 *      and retries are cut short; see runShard), or, during a store outage or when the store does not
 *      answer within storeShutdownMs (app.ts), its checkpoint left as last saved (or not yet begun):
 *      the Job must run the shard again, it resumes where it stopped. Never 0, or an interrupted
 *      shard would count as complete.
 */
import { parseArgs } from "node:util";
import { createRootLogger, type Logger } from "../../plumbing/logger.ts";
import { watchShutdownSignals } from "../../plumbing/shutdown.ts";
import { runBootstrap } from "./app.ts";
import { InterruptedBeforeStart } from "./shard.ts";
import { loadBootstrapConfig, type BootstrapConfig } from "./config.ts";
import { connectEmbedding, warnOfTokenRefusals } from "../shared/embed-client.ts";

export const EXIT_DONE = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 75;

const usage = `usage: jude bootstrap --config <file>

Runs one shard of a BootstrapRun (one index of its Indexed Job): reads the shard's part of the source,
embeds it and writes the vectors, resuming from its checkpoint. The config file (YAML or JSON) is
rendered by the operator; see pipelines/bootstrap/README.md, section "Config".

Environment:
  JOB_COMPLETION_INDEX  the shard index (set by the Indexed Job) when the config names none
  JUDE_LOG_LEVEL        log level (default info)

Exit codes: 0 done, 1 failed (a rerun resumes), 2 invalid command line or config, 75 interrupted.
`;

/** Entry point; returns the exit code (never calls process.exit). */
export async function main(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { config: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(usage);
      return EXIT_DONE;
    }
    configPath = values.config;
  } catch (error) {
    process.stderr.write(`jude bootstrap: ${(error as Error).message}\n${usage}`);
    return EXIT_USAGE;
  }
  if (configPath === undefined) {
    process.stderr.write(`jude bootstrap: --config is required\n${usage}`);
    return EXIT_USAGE;
  }
  let logger: Logger;
  let config: BootstrapConfig;
  try {
    logger = createRootLogger({ component: "bootstrap" });
  } catch (error) {
    process.stderr.write(`jude bootstrap: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }
  try {
    config = loadBootstrapConfig(configPath);
  } catch (error) {
    logger.error({ err: error }, "invalid configuration");
    return EXIT_USAGE;
  }

  const shutdown = watchShutdownSignals();
  void shutdown.requested.then((signal) => logger.info({ signal }, "stopping after the batches in flight"));
  // Long texts are cut to the model's limit rather than failing the shard; every answer must come
  // from this version's model.
  const embedding = connectEmbedding(config.embedding, {
    modelDigest: config.model.digest,
    truncate: true,
    onTokenRefused: warnOfTokenRefusals(logger, config.embedding.tokenRefusedRetrySeconds),
  });
  try {
    const { outcome, state } = await runBootstrap(config, {
      logger,
      embedCall: embedding.call,
      isRetryableEmbedError: embedding.isRetryable,
      watchTokenRefusals: embedding.watchTokenRefusals,
      signal: shutdown.signal,
    });
    if (outcome === "done") {
      logger.info({ counts: state.counts }, "shard done");
      return EXIT_DONE;
    }
    logger.warn({ counts: state.counts }, "shard interrupted; a rerun resumes from the checkpoint");
    return EXIT_INTERRUPTED;
  } catch (error) {
    if (error instanceof InterruptedBeforeStart) {
      logger.warn({ err: error }, "shard interrupted before it started; a rerun starts it");
      return EXIT_INTERRUPTED;
    }
    logger.error({ err: error }, "shard failed; a rerun resumes from the checkpoint");
    return EXIT_FAILED;
  } finally {
    shutdown.dispose();
    embedding.close();
  }
}
