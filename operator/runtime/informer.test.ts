import { silentLogger } from "../../plumbing/logger.ts";
import { describe, expect, it, vi } from "vitest";
import { KubeApiError } from "./api-error.ts";
import { Informer, type InformerEventType, type RestartReason } from "./informer.ts";
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
  let listCalls = 0;
  const listWatcher: ListWatcher = {
    list: async () => {
      listCalls += 1;
      const next = lists.shift();
      if (next === undefined) throw new Error("no more lists scripted");
      if (next instanceof Error) throw next;
      return next;
    },
    watch: async (resourceVersion, handlers, signal) => {
      watchedFrom.push(resourceVersion);
      const script = watches.shift();
      if (script !== undefined) return script(handlers, signal);
      handlers.onConnected();
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
  };
  return { listWatcher, watchedFrom, listCalls: () => listCalls };
}

function start(listWatcher: ListWatcher, transform?: (object: KubeObject) => KubeObject) {
  const events: [InformerEventType, string][] = [];
  const restarts: RestartReason[] = [];
  const informer = new Informer({
    name: "configmaps",
    listWatcher,
    log: silentLogger(),
    ...(transform !== undefined ? { transform } : {}),
    backoff: { baseMs: 1, maxMs: 2 },
    onRestart: (reason) => restarts.push(reason),
  });
  informer.on((type, changed) => events.push([type, changed.metadata?.name ?? ""]));
  informer.start();
  return { informer, events, restarts };
}

describe("informer", () => {
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
});
