// Where the local node agent keeps its files inside the testbed state dir.
import { join } from "node:path";
import { stateDir } from "../paths.ts";

/** The agent's folder: config, pod folders, the pods snapshot. */
export const localNodesDir = (): string => join(stateDir(), "local-nodes");

/** Container logs, one folder per pod: <namespace>_<pod>_<uid>/<container>/<restartCount>.log. */
export const podLogDir = (): string => join(stateDir(), "logs", "pods");

/** The agent's snapshot of its pods (see agent-snapshot.ts). */
export const snapshotFile = (): string => join(localNodesDir(), "pods.json");
