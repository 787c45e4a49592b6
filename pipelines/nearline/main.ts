/**
 * `jude nearline --config <file>`: one worker process for one embedding version of one pipeline.
 * Exits 0 after a clean drain on SIGTERM/SIGINT (batch in hand finished and committed), 1 when the
 * worker fails for good, 2 on a bad config. A store or Kafka unreachable at start is waited for
 * (app.ts); the shutdown handlers are installed once the worker consumes, so SIGTERM before that
 * (nothing in hand) ends the process at once, by the signal.
 */
import { parseArgs } from "node:util";
import { createRootLogger } from "../../plumbing/logger.ts";
import { watchShutdownSignals } from "../../plumbing/shutdown.ts";
import { connectEmbedding, warnOfTokenRefusals } from "../shared/embed-client.ts";
import { startNearline, type NearlineDependencies } from "./app.ts";
import { loadNearlineConfig, type NearlineConfig } from "./config.ts";
import type { Logger } from "../../plumbing/logger.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

const usage = `usage: jude nearline --config <file>

Consumes one entity's changelog and keeps one embedding version of the store fresh.
The config file (YAML or JSON) is rendered by the operator; see the README, section "Nearline worker"
(config example, "Delivery guarantees", "Contract for producers and readers").

Environment:
  JUDE_POD_NAME   stable id of this worker (the pod name); enables static consumer group
                  membership, so a restarted worker resumes its partitions at once
  JUDE_LOG_LEVEL  log level (default info)

Endpoints on the config's http.port (default 9090): /healthz, /readyz (ready, totals, consumer lag, freshness),
/metrics (Prometheus; README section "Metrics").
`;

/**
 * Runs the worker until SIGTERM/SIGINT or a fatal error; returns the exit code. `hooks` lets a fault
 * test run this very process flow with a batch held at a step (see NearlineDependencies.atStep).
 */
export async function main(
  argv: string[],
  hooks: Pick<NearlineDependencies, "atStep"> = {},
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  let config: NearlineConfig;
  let logger: Logger;
  try {
    if (values.config === undefined) throw new Error("--config is required");
    logger = createRootLogger({ component: "nearline" });
    config = loadNearlineConfig(values.config);
  } catch (error) {
    process.stderr.write(`jude nearline: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }

  // Every answer must come from this version's model: vectors of another model are refused, not stored.
  const embedding = connectEmbedding(config.embedding, {
    modelDigest: config.model.digest,
    onTokenRefused: warnOfTokenRefusals(logger, config.embedding.tokenRefusedRetrySeconds),
  });
  let app: Awaited<ReturnType<typeof startNearline>>;
  try {
    app = await startNearline(config, {
      logger,
      embedCall: embedding.call,
      isRetryableEmbedError: embedding.isRetryable,
      watchTokenRefusals: embedding.watchTokenRefusals,
      // The pod name (downward API): a container restarted after a crash keeps it, so the worker
      // takes its old place in the consumer group at once (static membership).
      groupInstanceId: process.env.JUDE_POD_NAME || undefined,
      ...hooks,
    });
  } catch (error) {
    logger.error({ err: error }, "nearline worker failed to start");
    embedding.close();
    return 1;
  }

  const shutdown = watchShutdownSignals();
  const outcome = await Promise.race([
    shutdown.requested.then((signal) => ({ signal })),
    app.worker.done.then(
      () => ({
        error: new PipelineError(PipelineErrorCodes.CONSUMER_ENDED, "the consumer loop ended unexpectedly"),
      }),
      (error: unknown) => ({ error }),
    ),
  ]);
  if ("signal" in outcome) logger.info({ signal: outcome.signal }, "draining");
  else logger.error({ err: outcome.error }, "nearline worker failed");
  await app.stop();
  embedding.close();
  shutdown.dispose();
  return "signal" in outcome ? 0 : 1;
}
