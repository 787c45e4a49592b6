// `jude operator`: parse the config, run the manager with the selected controllers, and on SIGTERM
// (or SIGINT) drain and return. Exit codes: 0 after a graceful stop, 1 when leadership was lost or the
// runtime failed (the pod restarts as a standby), 2 for a usage or config error.
import type { KubeConfig } from "@kubernetes/client-node";
import { imagesFor } from "../controllers/shared/image.ts";
import { ConfigError } from "../plumbing/config-file.ts";
import { createRootLogger } from "../plumbing/logger.ts";
import { watchShutdownSignals } from "../plumbing/shutdown.ts";
import { loadOperatorConfig, operatorUsage, type OperatorConfig } from "./config.ts";
import { controllerFactories } from "./controllers.ts";
import { loadKubeConfig } from "./kube-config.ts";
import { workloadPlacement } from "./placement-config.ts";
import { Manager } from "./runtime/manager.ts";

/** Runs the operator until a signal; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(operatorUsage());
    return 0;
  }
  let config: OperatorConfig;
  let kubeConfig: KubeConfig;
  try {
    config = loadOperatorConfig(argv, process.env);
    kubeConfig = loadKubeConfig(config.kubeconfig);
    const unknown = (config.controllers ?? []).filter((name) => controllerFactories[name] === undefined);
    if (unknown.length > 0)
      throw new ConfigError(
        `unknown controllers: ${unknown.join(", ")} (known: ${Object.keys(controllerFactories).join(", ")})`,
      );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`jude operator: ${error.message}\n\n${operatorUsage()}`);
    return 2;
  }
  const log = createRootLogger({ component: "operator", level: config.logLevel });

  const manager = new Manager({
    kubeConfig,
    namespaces: config.namespaces?.length ? config.namespaces : undefined,
    log,
    http: { host: config.httpHost, port: config.httpPort },
    leaderElection: config.leaderElect
      ? {
          namespace: config.leaseNamespace,
          name: config.leaseName,
          identity: config.identity,
          leaseDurationMs: config.leaseDurationSeconds * 1000,
          renewDeadlineMs: config.renewDeadlineSeconds * 1000,
          retryPeriodMs: config.retryPeriodSeconds * 1000,
        }
      : undefined,
    watchStaleMs: config.watchStaleSeconds * 1000,
    drainMs: config.drainSeconds * 1000,
    retry: {
      qps: config.retryQps,
      burst: config.retryBurst,
      maxDelayMs: config.retryMaxDelaySeconds * 1000,
    },
    reconcileErrorAfterMs: config.reconcileErrorAfterSeconds * 1000,
  });
  const settings = {
    pipelinePollMs: config.pipelinePollSeconds * 1000,
    images: imagesFor(config.imageRepository, config.imageTag, config.workloadImagePullSecrets, {
      digest: config.imageDigest,
      cudaDigest: config.cudaImageDigest,
      pullPolicy: config.workloadImagePullPolicy,
    }),
    placement: workloadPlacement(config),
    concurrency: config.concurrency,
    registry: manager.metrics.registry,
  };
  const selected = config.controllers ?? Object.keys(controllerFactories);
  for (const name of selected) manager.add(controllerFactories[name]!(settings));

  const shutdown = watchShutdownSignals();
  void shutdown.requested.then((signal) => log.info({ signal }, "shutdown requested"));
  try {
    await manager.run(shutdown.signal);
    return 0;
  } catch (error) {
    log.error({ err: error }, "operator stopped on an error");
    return 1;
  } finally {
    shutdown.dispose();
  }
}
