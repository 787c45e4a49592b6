// Where the quickstart keeps its own small files: what it started (for `down`) and the last summary.
// Beside the testbed's state by default; JUDE_QUICKSTART_STATE_DIR moves them (a checkout that uses
// another checkout's testbed keeps its quickstart files to itself).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "../../test/testbed/paths.ts";

function quickstartDir(): string {
  const dir = process.env.JUDE_QUICKSTART_STATE_DIR ?? stateDir();
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** What `up` started and which namespaces it used. */
export const quickstartStateFile = (): string => join(quickstartDir(), "quickstart.json");

/** The last run's summary as JSON (the e2e test reads it). */
export const quickstartSummaryFile = (): string => join(quickstartDir(), "quickstart-summary.json");

/** The id of the quickstart process running now (one at a time per state directory). */
export const quickstartLockFile = (): string => join(quickstartDir(), "quickstart.pid");
