// The Service environment variables a kubelet gives every container (docker-links style), so code
// that reads KUBERNETES_SERVICE_HOST or FOO_SERVICE_PORT works as on a cluster.
import type { V1Service } from "@kubernetes/client-node";

/**
 * Variables for the Services visible to a pod in `namespace`: the `kubernetes` Service always (the
 * in-cluster client needs it), the namespace's own Services when `enableServiceLinks` is not false.
 * Headless Services (clusterIP None) give none, as on a cluster.
 */
export function serviceEnvironment(
  services: readonly V1Service[],
  namespace: string,
  enableServiceLinks = true,
): Record<string, string> {
  const env: Record<string, string> = {};
  const visible = services.filter(
    (service) =>
      (service.metadata?.namespace === namespace && enableServiceLinks) ||
      (service.metadata?.namespace === "default" && service.metadata.name === "kubernetes"),
  );
  for (const service of visible) {
    const ip = service.spec?.clusterIP;
    const ports = service.spec?.ports ?? [];
    if (ip === undefined || ip === "" || ip === "None" || ports.length === 0) continue;
    const prefix = (service.metadata?.name ?? "").toUpperCase().replaceAll("-", "_");
    const first = ports[0]!;
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    env[`${prefix}_PORT`] = `${(first.protocol ?? "TCP").toLowerCase()}://${ip}:${first.port}`;
    for (const port of ports) {
      const protocol = port.protocol ?? "TCP";
      if (port.name !== undefined && port.name !== "") {
        env[`${prefix}_SERVICE_PORT_${port.name.toUpperCase().replaceAll("-", "_")}`] = String(port.port);
      }
      const link = `${prefix}_PORT_${port.port}_${protocol}`;
      env[link] = `${protocol.toLowerCase()}://${ip}:${port.port}`;
      env[`${link}_PROTO`] = protocol.toLowerCase();
      env[`${link}_PORT`] = String(port.port);
      env[`${link}_ADDR`] = ip;
    }
  }
  return env;
}
