// The operator's API credentials. @kubernetes/client-node's loadFromDefault falls back to an
// unauthenticated http://localhost:8080 when it finds nothing (no KUBECONFIG, no ~/.kube/config, no
// service account token: a pod with automountServiceAccountToken false), and the operator would then
// retry that address for ever; a kubeconfig it cannot read threw a bare stack trace. Both are
// configuration errors (exit 2) with a message saying what to provide.
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError } from "../plumbing/config-file.ts";

/** Where the in-cluster credentials come from (the service account volume). */
export const serviceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Loads `--kubeconfig`, or the default chain; a ConfigError when it cannot be read or finds nothing. */
export function loadKubeConfig(
  path: string | undefined,
  loadDefault: (kubeConfig: KubeConfig) => void = (kubeConfig) => kubeConfig.loadFromDefault(),
): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (path === undefined) loadDefault(kubeConfig);
    else kubeConfig.loadFromFile(path);
  } catch (error) {
    const source = path ?? process.env.KUBECONFIG ?? "the default kubeconfig";
    throw new ConfigError(`cannot load the kubeconfig ${source}: ${(error as Error).message}`);
  }
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) {
    throw new ConfigError(
      `the kubeconfig ${path ?? process.env.KUBECONFIG ?? ""} has no current cluster (current-context "${kubeConfig.getCurrentContext()}")`,
    );
  }
  if (path === undefined && isNoCredentialsFallback(kubeConfig)) {
    throw new ConfigError(
      `no Kubernetes credentials: no --kubeconfig, KUBECONFIG or ~/.kube/config, and no service account token at ${serviceAccountTokenPath} (in a pod: is automountServiceAccountToken false?)`,
    );
  }
  return kubeConfig;
}

/** The client library's last resort: cluster "cluster" at http://localhost:8080, user "user" without credentials. */
function isNoCredentialsFallback(kubeConfig: KubeConfig): boolean {
  const cluster = kubeConfig.getCurrentCluster();
  const user = kubeConfig.getCurrentUser();
  return (
    kubeConfig.clusters.length === 1 &&
    cluster?.name === "cluster" &&
    cluster.server === "http://localhost:8080" &&
    user?.name === "user" &&
    user.token === undefined &&
    user.certFile === undefined &&
    user.certData === undefined
  );
}
