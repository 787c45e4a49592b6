// Runs the NearlinePipeline and BootstrapRun controllers in this process against the testbed's API
// server, in a namespace of their own that enforces the restricted Pod Security Standard, so the real
// admission plugin checks every pod the controllers render.
import { KubeConfig } from "@kubernetes/client-node";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import { nearlinePipelineController } from "../../../controllers/nearline-pipeline/controller.ts";
import { Manager } from "../../../operator/runtime/manager.ts";
import { createRootLogger, silentLogger } from "../../../plumbing/logger.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";

/** A running in-process operator with the two pipeline controllers, watching one namespace. */
export interface ControllersHarness {
  namespace: string;
  stop(): Promise<void>;
}

/** Installs the CRDs, creates a restricted namespace and starts the controllers on it. */
export async function startControllers(prefix: string): Promise<ControllersHarness> {
  await installCrds();
  const namespace = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  await createRestrictedNamespace(namespace);

  const stop = startManager(namespace, "controllers-test", (manager) => {
    const settings = { images: testImages, concurrency: 2 };
    manager.add(nearlinePipelineController(settings));
    manager.add(bootstrapRunController(settings));
  });
  return {
    namespace,
    async stop() {
      await stop();
      await deleteNamespace(namespace);
    },
  };
}

/**
 * Runs a manager with the controllers `add` registers on `namespace`, in this process; returns its
 * stop. JUDE_TEST_LOG=1 shows the controllers' errors (failed reconciles are retried, not thrown here).
 */
export function startManager(
  namespace: string,
  component: string,
  add: (manager: Manager) => void,
): () => Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
  const manager = new Manager({
    kubeConfig,
    namespaces: [namespace],
    log: process.env.JUDE_TEST_LOG ? createRootLogger({ component, level: "error" }) : silentLogger(),
    http: { host: "127.0.0.1", port: 0 },
    watchStaleMs: 300_000,
    drainMs: 5_000,
  });
  add(manager);
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  return async () => {
    abort.abort();
    await running;
  };
}

/** Server-side applies objects (as JSON) in `namespace`, as a user would with kubectl. */
export async function applyObjects(namespace: string, objects: readonly object[]): Promise<void> {
  for (const object of objects)
    await kubectl(
      ["apply", "--server-side", "--field-manager=jude-test-user", "-n", namespace, "-f", "-"],
      JSON.stringify(object),
    );
}

/** Waits until `kubectl get` of `resource` satisfies `accept`, and returns it. */
export async function waitForObject<T>(
  namespace: string,
  resource: string,
  description: string,
  accept: (object: T) => boolean,
): Promise<T> {
  let last: T | undefined;
  await waitFor(
    description,
    async () => {
      last = await kubectlJson<T>(["get", "-n", namespace, resource]);
      return accept(last);
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  return last!;
}

export { condition as conditionOf } from "../operator/operator-harness.ts";
