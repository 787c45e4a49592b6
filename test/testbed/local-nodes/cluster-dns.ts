// Cluster DNS for local pods, served as each pod's /etc/hosts: every Service's names (`name` in the
// pod's namespace, `name.namespace`, `.svc`, `.svc.cluster.local`) map to its ClusterIP, headless
// Services to their ready pod addresses. glibc reads /etc/hosts on every lookup, so rewriting it is
// enough for new Services to resolve; names it does not list fail at once (see podResolvConf).
import type { V1Service } from "@kubernetes/client-node";

/** The cluster domain, as kubelets configure it by default. */
export const clusterDomain = "cluster.local";

/** The hosts file of one pod. */
export function podHostsFile(
  pod: { name: string; namespace: string; ip: string; hostname?: string },
  services: readonly V1Service[],
  headlessAddresses: (service: V1Service) => string[],
): string {
  const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
  lines.push(`${pod.ip}\t${pod.hostname ?? pod.name}`);
  const sorted = [...services].sort((a, b) =>
    `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(
      `${b.metadata?.namespace}/${b.metadata?.name}`,
    ),
  );
  for (const service of sorted) {
    const name = service.metadata?.name ?? "";
    const namespace = service.metadata?.namespace ?? "";
    const names = [
      `${name}.${namespace}.svc.${clusterDomain}`,
      `${name}.${namespace}.svc`,
      `${name}.${namespace}`,
    ];
    if (namespace === pod.namespace) names.push(name);
    const ip = service.spec?.clusterIP;
    const addresses = ip === undefined || ip === "" ? [] : ip === "None" ? headlessAddresses(service) : [ip];
    for (const address of addresses) lines.push(`${address}\t${names.join(" ")}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The pod's resolv.conf: the only nameserver is the bridge address, where nothing listens on port 53,
 * so a name missing from /etc/hosts fails at once and no pod query ever leaves the machine.
 */
export function podResolvConf(gateway: string, namespace: string): string {
  return [
    `nameserver ${gateway}`,
    `search ${namespace}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}`,
    "options ndots:5 attempts:1 timeout:1",
    "",
  ].join("\n");
}
