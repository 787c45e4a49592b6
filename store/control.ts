/**
 * Runs the control-slot scripts (see scripts/control-scripts.ts) and maps their status replies to
 * StoreErrors in one place.
 */

import type { ScriptName } from "./commands.ts";
import { runScript } from "./commands.ts";
import { StoreError, StoreErrorCodes } from "./errors.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/**
 * Runs a control script and turns an error status (first reply element) into a StoreError.
 * Returns the remaining reply elements on `ok`, `noop` or `done`. `explain` turns an error reply into a
 * readable message and structured details.
 */
export async function runControl(
  store: Store,
  operation: string,
  script: ScriptName,
  args: (string | number)[],
  explain?: (status: string, values: string[]) => { message: string; details: Record<string, unknown> },
): Promise<{ status: string; values: string[] }> {
  let reply: unknown;
  try {
    reply = await runScript(store.client, script, args);
  } catch (error) {
    throw recordFailure(store, operation, error);
  }
  if (!Array.isArray(reply) || typeof reply[0] !== "string") {
    throw recordFailure(store, operation, new Error(`unexpected script reply ${JSON.stringify(reply)}`));
  }
  const [status, ...values] = reply as [string, ...string[]];
  if (status === "ok" || status === "noop" || status === "done") return { status, values };
  const code = Object.values(StoreErrorCodes).find((candidate) => candidate === status);
  const explained = explain?.(status, values) ?? { message: values.join(" "), details: { values } };
  const error = new StoreError(
    code ?? StoreErrorCodes.INTERNAL,
    `${operation}: ${status}: ${explained.message}`,
    {
      details: explained.details,
    },
  );
  store.metrics.errors.inc({ store: store.layout.prefix, operation, code: error.code });
  throw error;
}
