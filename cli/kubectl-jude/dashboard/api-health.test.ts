import { describe, expect, it } from "vitest";
import { KubeApiError } from "../../../operator/runtime/api-error.ts";
import type { ListWatcher } from "../../../operator/runtime/list-watcher.ts";
import { ApiHealth, trackedListWatcher } from "./api-health.ts";

const refused = new TypeError("fetch failed: connect ECONNREFUSED 127.0.0.1:6443");

describe("ApiHealth", () => {
  it("shows a problem from the first failure until every failing collection got through", () => {
    const health = new ApiHealth();
    expect(health.problem()).toBeUndefined();
    expect(health.failed("models", refused, Date.parse("2026-12-01T10:00:00Z"))).toBe(true);
    // The same failure again changes nothing the page shows; a later one keeps the outage's start.
    expect(health.failed("models", refused, Date.parse("2026-12-01T10:00:05Z"))).toBe(false);
    expect(health.failed("pipelines", refused, Date.parse("2026-12-01T10:00:01Z"))).toBe(false);
    expect(health.problem()).toEqual({
      message: "fetch failed: connect ECONNREFUSED 127.0.0.1:6443",
      since: "2026-12-01T10:00:00.000Z",
    });
    expect(health.succeeded("models")).toBe(true);
    expect(health.problem()?.since).toBe("2026-12-01T10:00:01.000Z");
    const forbidden = new Error("list bootstrapruns: 403 Forbidden");
    expect(health.failed("bootstrapRuns", forbidden, Date.parse("2026-12-01T10:00:06Z"))).toBe(true);
    expect(health.problem()?.message).toBe("list bootstrapruns: 403 Forbidden");
    expect(health.succeeded("bootstrapRuns")).toBe(true);
    expect(health.succeeded("pipelines")).toBe(true);
    expect(health.succeeded("pipelines")).toBe(false);
    expect(health.problem()).toBeUndefined();
  });
});

/** A list/watcher that fails with `failure` (when set) and otherwise lists nothing and connects. */
function scripted(state: { failure?: unknown }): ListWatcher {
  return {
    list: async () => {
      if (state.failure !== undefined) throw state.failure;
      return { items: [], resourceVersion: "1" };
    },
    watch: async (_resourceVersion, handlers) => {
      if (state.failure !== undefined) throw state.failure;
      handlers.onConnected();
    },
  };
}

describe("trackedListWatcher", () => {
  it("reports failed lists and watches, and a watch the server accepted as recovery", async () => {
    const health = new ApiHealth();
    const state: { failure?: unknown } = { failure: refused };
    let changes = 0;
    const tracked = trackedListWatcher(scripted(state), "models", health, () => (changes += 1));
    const signal = new AbortController().signal;
    await expect(tracked.list(signal)).rejects.toBe(refused);
    expect(health.problem()?.message).toBe("fetch failed: connect ECONNREFUSED 127.0.0.1:6443");
    expect(changes).toBe(1);
    state.failure = undefined;
    let connected = 0;
    await tracked.watch("1", { onEvent: () => undefined, onConnected: () => (connected += 1) }, signal, 60);
    expect({ problem: health.problem(), changes, connected }).toEqual({
      problem: undefined,
      changes: 2,
      connected: 1,
    });
  });

  it("counts neither 410 Gone (the server answered) nor the informer's own abort as an outage", async () => {
    const health = new ApiHealth();
    const state: { failure?: unknown } = { failure: new KubeApiError(410, "too old resource version") };
    const tracked = trackedListWatcher(scripted(state), "models", health, () => undefined);
    const handlers = { onEvent: () => undefined, onConnected: () => undefined };
    await expect(tracked.watch("1", handlers, new AbortController().signal, 60)).rejects.toThrow();
    const aborted = new AbortController();
    aborted.abort(new Error("watch given up as dead"));
    state.failure = aborted.signal.reason;
    await expect(tracked.watch("1", handlers, aborted.signal, 60)).rejects.toThrow();
    expect(health.problem()).toBeUndefined();
  });
});
