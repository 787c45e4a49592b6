import { setTimeout as realSleep } from "node:timers/promises";
import { silentLogger } from "../../plumbing/logger.ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KubeApiError } from "./api-error.ts";
import { Informer, type InformerEventType, type InformerOptions, type RestartReason } from "./informer.ts";
import type { ListResult, WatchEvent } from "./kube-client.ts";
import type { ListWatcher } from "./list-watcher.ts";
import type { KubeObject } from "./types.ts";

type WatchScript = (
  handlers: { onEvent: (event: WatchEvent) => void; onConnected: () => void },
  signal: AbortSignal,
) => Promise<void>;

function object(name: string, resourceVersion: string): KubeObject {
  return { kind: "ConfigMap", metadata: { namespace: "ns", name, resourceVersion } };
}

/** A ListWatcher that plays scripted answers, then blocks in a watch until stopped. */
function scripted(lists: (ListResult | Error)[], watches: WatchScript[]) {
  const watchedFrom: string[] = [];
  const timeouts: number[] = [];
  let listCalls = 0;
  const listWatcher: ListWatcher = {
    list: async () => {
      listCalls += 1;
      const next = lists.shift();
      if (next === undefined) throw new Error("no more lists scripted");
      if (next instanceof Error) throw next;
      return next;
    },
    watch: async (resourceVersion, handlers, signal, timeoutSeconds) => {
      watchedFrom.push(resourceVersion);
      timeouts.push(timeoutSeconds);
      const script = watches.shift();
      if (script !== undefined) return script(handlers, signal);
      handlers.onConnected();
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
  };
  return { listWatcher, watchedFrom, timeouts, listCalls: () => listCalls };
}

/** A watch that connects, sends `bookmarks` (one per `everyMs`, then nothing) and never ends. */
function neverEnding(bookmarks: number, everyMs: number): WatchScript {
  return async ({ onEvent, onConnected }, signal) => {
    onConnected();
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      onEvent({ type: "BOOKMARK", object: { metadata: { resourceVersion: String(100 + sent) } } });
      if (sent >= bookmarks) clearInterval(timer);
    }, everyMs);
    await new Promise((_, reject) =>
      signal.addEventListener("abort", () => (clearInterval(timer), reject(signal.reason))),
    );
  };
}

/** Lets the informer's promises and its (real, 1 ms) back-off run until `done` holds. */
async function settle(done: () => boolean): Promise<void> {
  for (let round = 0; round < 500 && !done(); round++) await realSleep(1);
  expect(done()).toBe(true);
}

function start(
  listWatcher: ListWatcher,
  transform?: (object: KubeObject) => KubeObject,
  watchTimeoutSeconds?: number,
) {
  const events: [InformerEventType, string][] = [];
  const restarts: RestartReason[] = [];
  const informer = new Informer({
    name: "configmaps",
    listWatcher,
    log: silentLogger(),
    ...(transform !== undefined ? { transform } : {}),
    backoff: { baseMs: 1, maxMs: 2 },
    ...(watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds } : {}),
    onRestart: (reason) => restarts.push(reason),
  });
  informer.on((type, changed) => events.push([type, changed.metadata?.name ?? ""]));
  informer.start();
  return { informer, events, restarts };
}

/**
 * Starts an informer (1-2 ms back-off, `options` added) that counts how often it is told it is
 * refused, and waits for its first sync.
 */
async function startCountingRefusals(
  listWatcher: ListWatcher,
  options: Pick<InformerOptions, "now" | "onSynced"> = {},
) {
  let refusals = 0;
  const informer = new Informer({
    name: "configmaps",
    listWatcher,
    log: silentLogger(),
    backoff: { baseMs: 1, maxMs: 2 },
    ...options,
    onRefused: () => (refusals += 1),
  });
  informer.start();
  await informer.waitForSync();
  return { informer, refusals: () => refusals };
}

describe("informer", () => {
  it("does not report its last activity as newer than it was after the wall clock steps back", async () => {
    // A stale informer must fail /readyz at --watch-stale-seconds, however NTP moves the wall clock.
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + stepMs);
    const fake = scripted([{ items: [object("a", "1")], resourceVersion: "10" }], []);
    const { informer } = start(fake.listWatcher);
    await informer.waitForSync();
    stepMs = -3_600_000;
    expect(informer.lastActivityAgeMs()).toBeGreaterThanOrEqual(0);
    expect(informer.lastActivityAgeMs()).toBeLessThan(60_000);
    await informer.stop();
    vi.restoreAllMocks();
  });

  it("tells a first list that failed (403) apart from one still running, and syncs once it succeeds", async () => {
    const forbidden = new KubeApiError(403, 'configmaps is forbidden: cannot list resource "configmaps"');
    const fake = scripted([forbidden, forbidden, { items: [object("a", "1")], resourceVersion: "10" }], []);
    const { informer, events } = start(fake.listWatcher);
    await informer.waitForFirstList();
    expect(informer.synced).toBe(false);
    expect(informer.syncError).toBe(forbidden);
    await informer.waitForSync();
    expect(informer.syncError).toBeUndefined();
    expect(events).toEqual([["add", "a"]]);
    await informer.stop();
  });

  it("lists, then applies watch events from the list's resourceVersion", async () => {
    const fake = scripted(
      [{ items: [object("a", "1"), object("b", "2")], resourceVersion: "10" }],
      [
        async ({ onEvent, onConnected }) => {
          onConnected();
          onEvent({
            type: "MODIFIED",
            object: {
              ...object("a", "11"),
              metadata: { ...object("a", "11").metadata, managedFields: [{ manager: "x" }] },
            },
          });
          onEvent({ type: "ADDED", object: object("c", "12") });
          onEvent({ type: "DELETED", object: object("b", "13") });
          onEvent({ type: "BOOKMARK", object: { metadata: { resourceVersion: "20" } } });
        },
      ],
    );
    const { informer, events } = start(fake.listWatcher);
    await informer.waitForSync();
    await vi.waitFor(() => expect(fake.watchedFrom).toHaveLength(2));
    expect(fake.watchedFrom).toEqual(["10", "20"]);
    expect(events).toEqual([
      ["add", "a"],
      ["add", "b"],
      ["update", "a"],
      ["add", "c"],
      ["delete", "b"],
    ]);
    expect(
      informer
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(["a", "c"]);
    expect(informer.get("ns/a")?.metadata?.resourceVersion).toBe("11");
    expect(informer.get("ns/a")?.metadata).not.toHaveProperty("managedFields");
    expect(informer.lastActivityAgeMs()).toBeGreaterThanOrEqual(0);
    await informer.stop();
  });

  it("hands an update's handlers the state it replaced", async () => {
    // A child whose owner reference was removed names its owner only in the state before the edit.
    const owned = {
      ...object("a", "2"),
      metadata: {
        ...object("a", "2").metadata,
        ownerReferences: [{ apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: "m", uid: "u" }],
      },
    } as KubeObject;
    const fake = scripted(
      [{ items: [owned], resourceVersion: "10" }],
      [
        async ({ onEvent, onConnected }) => {
          onConnected();
          onEvent({ type: "MODIFIED", object: object("a", "11") });
        },
      ],
    );
    const { informer } = start(fake.listWatcher);
    const seen: [InformerEventType, string | undefined, string | undefined][] = [];
    informer.on((type, changed, previous) =>
      seen.push([
        type,
        changed.metadata?.ownerReferences?.[0]?.name,
        previous?.metadata?.ownerReferences?.[0]?.name,
      ]),
    );
    await informer.waitForSync();
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    expect(seen).toEqual([
      ["add", "m", undefined],
      ["update", undefined, "m"],
    ]);
    await informer.stop();
  });

  it("relists on 410 Gone and emits what changed meanwhile, deletions included", async () => {
    const fake = scripted(
      [
        { items: [object("a", "1"), object("b", "2")], resourceVersion: "10" },
        { items: [object("a", "30"), object("d", "31")], resourceVersion: "40" },
      ],
      [async () => Promise.reject(new KubeApiError(410, "too old resource version", "Expired"))],
    );
    const { informer, events, restarts } = start(fake.listWatcher);
    await vi.waitFor(() => expect(fake.watchedFrom).toEqual(["10", "40"]));
    expect(restarts).toEqual(["gone"]);
    expect(fake.listCalls()).toBe(2);
    expect(events.slice(2)).toEqual([
      ["update", "a"],
      ["add", "d"],
      ["delete", "b"],
    ]);
    await informer.stop();
  });

  it("keeps retrying a failing list with back-off and syncs when it succeeds", async () => {
    const unavailable = new KubeApiError(503, "unavailable");
    const fake = scripted(
      [
        unavailable,
        new Error("connection refused"),
        unavailable,
        { items: [object("a", "1")], resourceVersion: "5" },
      ],
      [],
    );
    const { informer, restarts } = start(fake.listWatcher);
    expect(informer.synced).toBe(false);
    await informer.waitForSync();
    expect(restarts).toEqual(["error", "error", "error"]);
    expect(fake.listCalls()).toBe(4);
    await informer.stop();
  });

  it("resumes a broken watch from the last resourceVersion without relisting", async () => {
    const fake = scripted(
      [{ items: [], resourceVersion: "10" }],
      [
        async ({ onEvent, onConnected }) => {
          onConnected();
          onEvent({ type: "ADDED", object: object("a", "11") });
          throw new Error("socket hang up");
        },
        async () => Promise.reject(new KubeApiError(500, "internal error")),
      ],
    );
    const { informer, restarts } = start(fake.listWatcher);
    await vi.waitFor(() => expect(fake.watchedFrom).toHaveLength(3));
    expect(fake.watchedFrom).toEqual(["10", "11", "11"]);
    expect(fake.listCalls()).toBe(1);
    expect(restarts).toEqual(["error", "error"]);
    await informer.stop();
  });

  it("stops trusting its cache once its watch is refused after it synced (RBAC narrowed), and catches up once allowed", async () => {
    const forbidden = new KubeApiError(403, 'configmaps is forbidden: cannot watch resource "configmaps"');
    // The second watch (the Role allows it again by then) waits until the test says so.
    let allow = () => {};
    const allowed = new Promise<void>((resolve) => (allow = resolve));
    const fake = scripted(
      [
        { items: [object("a", "1")], resourceVersion: "10" },
        { items: [], resourceVersion: "12" },
      ],
      [
        async () => Promise.reject(forbidden),
        async ({ onConnected }, signal) => {
          await allowed;
          onConnected();
          await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
        },
      ],
    );
    const events: [InformerEventType, string][] = [];
    let refusals = 0;
    /** What the cache held each time it was said to follow the cluster. */
    const trustedHolding: string[][] = [];
    const informer: Informer = new Informer({
      name: "configmaps",
      listWatcher: fake.listWatcher,
      log: silentLogger(),
      backoff: { baseMs: 1, maxMs: 2 },
      onRefused: () => (refusals += 1),
      onSynced: () => trustedHolding.push(informer.list().map((cached) => cached.metadata?.name ?? "")),
    });
    informer.on((type, changed) => events.push([type, changed.metadata?.name ?? ""]));
    informer.start();
    await informer.waitForSync();
    // The watch was refused: the cache no longer follows the cluster.
    await settle(() => fake.watchedFrom.length === 2);
    expect(informer.synced).toBe(true);
    expect(informer.syncError).toBeUndefined();
    expect(informer.refused).toBe(true);
    expect(informer.failure).toBe(forbidden);
    expect(refusals).toBe(1);
    // Allowed again: the watch from where it was connects, which only says the refusal is over (what
    // it would replay first is not there yet); a fresh list brings what changed, then a watch from it.
    allow();
    await settle(() => fake.watchedFrom.length === 3 && informer.failure === undefined);
    expect(informer.refused).toBe(false);
    expect(fake.watchedFrom).toEqual(["10", "10", "12"]);
    expect(events).toEqual([
      ["add", "a"],
      ["delete", "a"],
    ]);
    // Never trusted while it held what it had before the refusal.
    expect(trustedHolding).toEqual([["a"], []]);
    await informer.stop();
  });

  it("does not take a watch refused for credentials (401: a token being rotated) for narrowed RBAC", async () => {
    const unauthorized = new KubeApiError(401, "Unauthorized");
    const fake = scripted(
      [{ items: [object("a", "1")], resourceVersion: "10" }],
      [async () => Promise.reject(unauthorized)],
    );
    const { informer, refusals } = await startCountingRefusals(fake.listWatcher);
    // The client re-reads the token file every minute: the next watch, from the same resourceVersion, works.
    await settle(() => fake.watchedFrom.length === 2);
    expect(informer.refused).toBe(false);
    expect(refusals()).toBe(0);
    expect(fake.watchedFrom).toEqual(["10", "10"]);
    expect(fake.listCalls()).toBe(1);
    await informer.stop();
  });

  it("stays refused while only its watch is refused, watching again from where it was without listing", async () => {
    const forbidden = new KubeApiError(403, 'configmaps is forbidden: cannot watch resource "configmaps"');
    const fake = scripted(
      [
        { items: [object("a", "1")], resourceVersion: "10" },
        { items: [object("a", "1")], resourceVersion: "13" },
      ],
      [
        async () => Promise.reject(forbidden),
        async () => Promise.reject(forbidden),
        async () => Promise.reject(forbidden),
      ],
    );
    // The fourth watch (the Role allows watching again by then) waits until the test says so.
    let allow = () => {};
    const allowed = new Promise<void>((resolve) => (allow = resolve));
    const listWatcher: ListWatcher = {
      ...fake.listWatcher,
      watch: async (resourceVersion, handlers, signal, timeoutSeconds) => {
        if (fake.watchedFrom.length >= 3) await allowed;
        return fake.listWatcher.watch(resourceVersion, handlers, signal, timeoutSeconds);
      },
    };
    let now = 0;
    let syncs = 0;
    const { informer, refusals } = await startCountingRefusals(listWatcher, {
      now: () => now,
      onSynced: () => (syncs += 1),
    });
    now = 60_000;
    // Watches are refused: still refused, told once, and no full list every retry (a watch refused is
    // cheap; a list of every object each 30 s for as long as the refusal lasts is not).
    await settle(() => fake.watchedFrom.length === 3 && informer.failure === forbidden);
    expect(fake.listCalls()).toBe(1);
    expect(fake.watchedFrom).toEqual(["10", "10", "10"]);
    expect(informer.refused).toBe(true);
    expect(informer.failure).toBe(forbidden);
    expect(refusals()).toBe(1);
    // Followed the cluster after its first list; not since.
    expect(syncs).toBe(1);
    // A list without a watch is not watch activity: /readyz goes on saying the informer is stale.
    expect(informer.lastActivityAgeMs()).toBe(60_000);
    allow();
    // The fourth watch connects: one fresh list, and the watch from it makes the cache follow the
    // cluster again.
    await settle(() => fake.watchedFrom.length === 5 && !informer.refused);
    expect(fake.listCalls()).toBe(2);
    expect(fake.watchedFrom).toEqual(["10", "10", "10", "10", "13"]);
    expect(informer.failure).toBeUndefined();
    expect(informer.lastActivityAgeMs()).toBe(0);
    // What waited for it is told it can be looked at now.
    expect(syncs).toBe(2);
    await informer.stop();
  });

  it("stays refused when the fresh list after a refused watch (its resourceVersion expired) fails for another reason", async () => {
    const forbidden = new KubeApiError(403, 'configmaps is forbidden: cannot watch resource "configmaps"');
    const busy = new KubeApiError(500, "etcdserver: request timed out");
    const fake = scripted(
      [{ items: [object("a", "1")], resourceVersion: "10" }, busy],
      [async () => Promise.reject(forbidden), async () => Promise.reject(new KubeApiError(410, "Gone"))],
    );
    const { informer, refusals } = await startCountingRefusals(fake.listWatcher);
    // The cache is as stale after the server error as before it: still not trusted, still refused.
    await settle(() => fake.listCalls() === 3);
    expect(informer.refused).toBe(true);
    expect(informer.refusal).toBe(forbidden);
    expect(refusals()).toBe(1);
    await informer.stop();
  });

  it("lists with back-off, watching no more, while the fresh list after a refused watch allowed again fails", async () => {
    const forbidden = new KubeApiError(403, 'configmaps is forbidden: cannot watch resource "configmaps"');
    const busy = new KubeApiError(500, "etcdserver: request timed out");
    const fake = scripted(
      [
        { items: [object("a", "1")], resourceVersion: "10" },
        busy,
        busy,
        busy,
        { items: [object("b", "2")], resourceVersion: "20" },
      ],
      [async () => Promise.reject(forbidden)],
    );
    const { informer, events, restarts } = start(fake.listWatcher);
    await informer.waitForSync();
    await settle(() => fake.watchedFrom.length === 3 && !informer.refused);
    // The watch allowed again is given up once (counted as a relist), and not opened again until a list worked.
    expect(fake.watchedFrom).toEqual(["10", "10", "20"]);
    expect(fake.listCalls()).toBe(5);
    expect(restarts).toEqual(["error", "gone", "error", "error", "error"]);
    expect(events).toEqual([
      ["add", "a"],
      ["add", "b"],
      ["delete", "a"],
    ]);
    await informer.stop();
  });

  it("reconnects at once after a normal end of a watch that delivered events", async () => {
    const fake = scripted(
      [{ items: [], resourceVersion: "1" }],
      [
        async ({ onEvent }) => onEvent({ type: "ADDED", object: object("a", "2") }),
        async ({ onEvent }) => onEvent({ type: "ADDED", object: object("b", "3") }),
      ],
    );
    const { informer, restarts } = start(fake.listWatcher);
    await vi.waitFor(() => expect(fake.watchedFrom).toEqual(["1", "2", "3"]));
    expect(restarts).toEqual(["closed", "closed"]);
    await informer.stop();
  });

  it("stores what its transform keeps, from lists and watch events alike", async () => {
    const withData = (name: string, resourceVersion: string) => ({
      ...object(name, resourceVersion),
      data: { k: "v" },
    });
    const fake = scripted(
      [{ items: [withData("a", "1")], resourceVersion: "1" }],
      [
        async ({ onEvent, onConnected }) => {
          onConnected();
          onEvent({ type: "ADDED", object: withData("b", "2") });
        },
      ],
    );
    const { informer, events } = start(
      fake.listWatcher,
      ({ data: _data, ...rest }: KubeObject & { data?: unknown }) => rest,
    );
    await vi.waitFor(() =>
      expect(events).toEqual([
        ["add", "a"],
        ["add", "b"],
      ]),
    );
    expect(informer.list().map((cached) => "data" in cached)).toEqual([false, false]);
    await informer.stop();
  });

  describe("gives up a dead watch (black-holed connection) and watches again without relisting", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("when it sent nothing, not even a bookmark, for 90 s", async () => {
      vi.useFakeTimers({
        toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
      });
      const fake = scripted([{ items: [], resourceVersion: "10" }], [neverEnding(1, 30_000)]);
      // A server-side timeout far beyond the silence limit, so only the silence counts here.
      const { informer, restarts } = start(fake.listWatcher, undefined, 300);
      await settle(() => fake.watchedFrom.length === 1);
      // A bookmark at 30 s, then silence: given up 90 s after the bookmark, not before.
      await vi.advanceTimersByTimeAsync(30_000 + 90_000 - 10);
      expect(restarts).toEqual([]);
      await vi.advanceTimersByTimeAsync(20);
      await settle(() => fake.watchedFrom.length === 2);
      expect(restarts).toEqual(["stalled"]);
      expect(fake.watchedFrom).toEqual(["10", "101"]);
      expect(fake.listCalls()).toBe(1);
      await informer.stop();
    });

    it("when it is still open 15 s after the server-side timeout it asked for", async () => {
      vi.useFakeTimers({
        toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
      });
      // Bookmarks every 20 s keep it from going silent, but the server would have ended it.
      const fake = scripted([{ items: [], resourceVersion: "10" }], [neverEnding(100, 20_000)]);
      const { informer, restarts } = start(fake.listWatcher, undefined, 100);
      await settle(() => fake.watchedFrom.length === 1);
      const timeoutMs = (fake.timeouts[0] ?? 0) * 1000;
      expect(timeoutMs).toBeGreaterThanOrEqual(100_000);
      expect(timeoutMs).toBeLessThan(200_000);
      await vi.advanceTimersByTimeAsync(timeoutMs + 15_000 - 10);
      expect(restarts).toEqual([]);
      await vi.advanceTimersByTimeAsync(20);
      await settle(() => fake.watchedFrom.length === 2);
      expect(restarts).toEqual(["stalled"]);
      expect(fake.listCalls()).toBe(1);
      await informer.stop();
    });
  });
});
