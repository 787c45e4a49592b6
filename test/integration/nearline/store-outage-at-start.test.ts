/**
 * A worker pod that starts while its Redis is down (restarting beside it, failing over) must not fail
 * its start: exit 1 would crash-loop the pod for a store that comes back. It waits the outage out,
 * saying so in its log, and consumes once the store answers. SIGTERM during that wait ends the process
 * at once (nothing is in hand yet: no shutdown handler holds it), never a wait for the grace period's
 * SIGKILL. Tested on a Redis of the file's own, stopped before the worker starts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { startJude } from "../../support/processes.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "outage-start-v1";
// A Redis of this test's own: it is stopped while the worker starts.
const deps = useOwnedRedisAndEmbedding(version);
/** How long the worker may take from SIGTERM to its end: far below the pod's 30 s grace period. */
const PROMPT_MS = 5_000;
/** What the worker logs while it waits for the store at start. */
const WAITING = "store unavailable at start; retrying";

it("waits for a store that is down as it starts, then consumes", async () => {
  const topic = uniqueTopic("nl-outage-start");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const lines: string[] = [];
  const logger = createRootLogger({
    component: "nearline",
    level: "warn",
    destination: { write: (line: string) => void lines.push(line) },
  });
  await deps.redis.kill();
  let failure: unknown;
  const starting = startInProcessNearline(config, logger);
  starting.catch((error: unknown) => (failure = error));
  try {
    await waitFor(
      "the worker to wait for the store, or fail",
      () => failure !== undefined || lines.some((line) => line.includes(WAITING)),
    );
    expect(failure).toBeUndefined();
  } finally {
    await deps.redis.restart();
  }
  const { app, closeConnection } = await starting;
  try {
    await produceEvents(topic, jobEvents(["a", "b", "c"], 1_000));
    await waitFor("the events", () => app.worker.totals.consumed >= 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(app.worker.totals.embedded).toBe(3);
    expect(app.worker.failure).toBeUndefined();
  } finally {
    await app.stop();
    closeConnection();
  }
});

it("ends at once on SIGTERM while it waits for the store at start", async () => {
  const topic = uniqueTopic("nl-outage-start-term");
  const config = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const configFile = join(mkdtempSync(join(tmpdir(), "nl-outage-start-")), "config.json");
  writeFileSync(configFile, JSON.stringify(config));
  await deps.redis.kill();
  try {
    const worker = startJude(topic, ["nearline", "--config", configFile]);
    let exitCode: number | null | undefined;
    void worker.exited.then((code) => (exitCode = code));
    await waitFor("the worker to wait for the store, or exit", () => {
      if (exitCode !== undefined) return true;
      return readFileSync(worker.logFile, "utf8").includes(WAITING);
    });
    expect(exitCode, readFileSync(worker.logFile, "utf8")).toBeUndefined();
    const terminated = Date.now();
    worker.child.kill("SIGTERM");
    const ended = await Promise.race([
      worker.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), PROMPT_MS)),
    ]);
    if (!ended) worker.child.kill("SIGKILL");
    expect(ended, `still running ${Date.now() - terminated} ms after SIGTERM`).toBe(true);
    expect(worker.child.signalCode).toBe("SIGTERM");
  } finally {
    await deps.redis.restart();
  }
});
