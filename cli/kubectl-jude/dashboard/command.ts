// `kubectl jude dashboard`: checks that the user can read the JUDE objects (so a missing CRD or Role is
// one clear line, not a retrying watch), starts the watches and the loopback server, prints the URL
// and serves until interrupted.
import { once } from "node:events";
import { createRootLogger } from "../../../plumbing/logger.ts";
import type { Cluster } from "../cluster.ts";
import { printable } from "../status-text.ts";
import { ActionPermissions } from "./permissions.ts";
import { startDashboardServer, type DashboardServer } from "./server.ts";
import { WatchHub } from "./watch-hub.ts";

export interface DashboardOptions {
  cluster: Cluster;
  /** undefined: every namespace. */
  namespace: string | undefined;
  port: number;
}

/** A running dashboard: its URL and how to stop it. */
export interface RunningDashboard {
  url: string;
  stop(): Promise<void>;
}

/** Starts the watches and the server; resolves once the page can be opened. */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  await options.cluster.readAll(options.namespace);
  const user = options.cluster.userDescription();
  const hub = new WatchHub({
    config: options.cluster.config,
    user,
    // Approve and rollback are both a patch of the EmbeddingModel.
    permissions: new ActionPermissions({
      user,
      allNamespaces: options.namespace === undefined,
      mayPatch: (namespace, name, signal) =>
        options.cluster.mayI("patch", "EmbeddingModel", namespace, name, signal),
    }),
    ...(options.namespace !== undefined && { namespace: options.namespace }),
    // The informers' own lines (a JSON record with a stack for every retry) are not for a terminal:
    // only errors are logged; an outage is one plain line when it starts and one when it ends.
    log: createRootLogger({ component: "kubectl-jude-dashboard", level: "error" }),
  });
  let outage = false;
  hub.subscribe((state) => {
    if (state.apiServer !== undefined && !outage)
      process.stderr.write(
        `kubectl jude: the API server watches fail (${printable(state.apiServer.message)}); the page shows the last state received, retrying\n`,
      );
    if (state.apiServer === undefined && outage)
      process.stderr.write("kubectl jude: the API server watches work again; the page is live\n");
    outage = state.apiServer !== undefined;
  });
  await hub.start();
  let server: DashboardServer;
  try {
    server = await startDashboardServer({
      hub,
      cluster: options.cluster,
      port: options.port,
      ...(options.namespace !== undefined && { namespace: options.namespace }),
    });
  } catch (error) {
    await hub.stop();
    throw error;
  }
  return {
    url: server.url,
    stop: async () => {
      await server.close();
      await hub.stop();
    },
  };
}

/** Runs the dashboard until SIGINT or SIGTERM. */
export async function runDashboard(options: DashboardOptions): Promise<void> {
  const dashboard = await startDashboard(options);
  const scope = options.namespace === undefined ? "all namespaces" : `namespace ${options.namespace}`;
  process.stdout.write(`JUDE dashboard for ${scope}: ${dashboard.url}  (Ctrl-C to stop)\n`);
  await Promise.race([once(process, "SIGINT"), once(process, "SIGTERM")]);
  await dashboard.stop();
}
