// Whether the API server still answers the dashboard's watches. The informers retry on their own with
// back-off and keep what they last saw, so without this the page would show that last state as if it
// were live while the API server is gone. Each watched collection reports its failures and successes
// here (through `trackedListWatcher`); the page shows the problem while any collection is failing.
import { hasStatus } from "../../../operator/runtime/api-error.ts";
import type { ListWatcher } from "../../../operator/runtime/list-watcher.ts";

/** What the page says while the watches fail: the latest error, and since when. */
export interface ApiProblem {
  message: string;
  /** ISO time of the first failure of this outage. */
  since: string;
}

/** The failing collections and why; tells whether what the page shows changed. */
export class ApiHealth {
  readonly #failing = new Map<string, { message: string; sinceMs: number }>();

  /** A list or watch of `collection` failed; true when the problem shown changed. */
  failed(collection: string, error: unknown, nowMs: number): boolean {
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
    const shown = this.#shown();
    const before = this.#failing.get(collection);
    // Delete first: the latest failure's message is the one shown.
    this.#failing.delete(collection);
    this.#failing.set(collection, { message, sinceMs: before?.sinceMs ?? nowMs });
    return this.#shown() !== shown;
  }

  /** A list or watch of `collection` got through; true when the problem shown changed. */
  succeeded(collection: string): boolean {
    const shown = this.#shown();
    this.#failing.delete(collection);
    return this.#shown() !== shown;
  }

  #shown(): string {
    return JSON.stringify(this.problem() ?? null);
  }

  /** The problem to show, or undefined while every collection is answered. */
  problem(): ApiProblem | undefined {
    const failures = [...this.#failing.values()];
    if (failures.length === 0) return undefined;
    const sinceMs = Math.min(...failures.map((failure) => failure.sinceMs));
    return { message: failures.at(-1)!.message, since: new Date(sinceMs).toISOString() };
  }
}

/**
 * `listWatcher` reporting to `health` as `collection`: a list that returns, or a watch the server
 * accepted, is a success; any other failure is one, except a 410 Gone (the informer relists: the
 * server answered) and the informer's own abort (stopped, or a watch given up as dead and retried).
 */
export function trackedListWatcher(
  listWatcher: ListWatcher,
  collection: string,
  health: ApiHealth,
  changed: () => void,
  now: () => number = Date.now,
  /** What the page says for a failure of a list or a watch (default: the error's own message). */
  describe: (error: unknown, verb: "list" | "watch") => unknown = (error) => error,
): ListWatcher {
  const succeeded = () => {
    if (health.succeeded(collection)) changed();
  };
  const failed = (error: unknown, signal: AbortSignal, verb: "list" | "watch") => {
    if (signal.aborted || hasStatus(error, 410)) return;
    if (health.failed(collection, describe(error, verb), now())) changed();
  };
  return {
    list: async (signal) => {
      try {
        const result = await listWatcher.list(signal);
        succeeded();
        return result;
      } catch (error) {
        failed(error, signal, "list");
        throw error;
      }
    },
    watch: async (resourceVersion, handlers, signal, timeoutSeconds) => {
      try {
        await listWatcher.watch(
          resourceVersion,
          {
            ...handlers,
            onConnected: () => {
              succeeded();
              handlers.onConnected();
            },
          },
          signal,
          timeoutSeconds,
        );
      } catch (error) {
        failed(error, signal, "watch");
        throw error;
      }
    },
  };
}
