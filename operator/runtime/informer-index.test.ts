// The informer's namespace/label index against a brute-force scan of the whole store: after every
// kind of change the cache can see (list, watch add/modify/delete, a label moving an object between
// buckets, delete and recreate under the same name, a relist after 410 Gone that drops what was deleted
// while disconnected), a namespaced or labelled list holds exactly what a full scan would, in the same
// order for a namespace's list (the order the store keeps).
import { setTimeout as realSleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import { KubeApiError } from "./api-error.ts";
import { Informer } from "./informer.ts";
import type { WatchEvent } from "./kube-client.ts";
import type { ListWatcher } from "./list-watcher.ts";
import { keyOf, keyToString } from "./object-key.ts";
import type { KubeObject } from "./types.ts";
import { SeededRandom } from "../../test/support/seeded-random.ts";

/** mulberry32 numbers in [0, 1) from `seed` (test/support/seeded-random.ts). */
function random(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.next();
}

const namespaces = ["a", "b", undefined]; // undefined: a cluster-scoped object
const labelKeys = ["app", "tier", "v"];
const labelValues = ["x", "y", ""];

/** Whether a full scan's object belongs to a namespaced, labelled list. */
function matches(object: KubeObject, namespace: string, labels: Record<string, string>): boolean {
  return (
    (object.metadata?.namespace ?? "") === namespace &&
    Object.entries(labels).every(([key, value]) => object.metadata?.labels?.[key] === value)
  );
}

/** The informer's answer for one query, filtered as InformerCache filters it. */
function indexed(informer: Informer, namespace: string, labels: Record<string, string>): string[] {
  return informer
    .list(namespace, labels)
    .filter((object) => matches(object, namespace, labels))
    .map((object) => keyToString(keyOf(object)));
}

function scanned(informer: Informer, namespace: string, labels: Record<string, string>): string[] {
  return informer
    .list()
    .filter((object) => matches(object, namespace, labels))
    .map((object) => keyToString(keyOf(object)));
}

/** Every query shape: no labels, each single label, pairs, a label nobody has, a namespace nobody uses. */
function queries(): [string, Record<string, string>][] {
  const result: [string, Record<string, string>][] = [];
  for (const namespace of ["a", "b", "", "absent"]) {
    result.push([namespace, {}], [namespace, { app: "none" }]);
    for (const key of labelKeys)
      for (const value of labelValues) {
        result.push([namespace, { [key]: value }]);
        for (const other of labelValues) result.push([namespace, { [key]: value, tier: other }]);
      }
  }
  return result;
}

async function settle(done: () => boolean): Promise<void> {
  for (let round = 0; round < 1000 && !done(); round++) await realSleep(1);
  expect(done()).toBe(true);
}

describe("informer index", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`equals a full scan after random changes, relists included (seed ${seed})`, async () => {
      const next = random(seed);
      const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
      let resourceVersion = 1;
      /** The apiserver's state, by key. */
      const server = new Map<string, KubeObject>();
      const make = (namespace: string | undefined, name: string): KubeObject => {
        const labels: Record<string, string> = {};
        for (const key of labelKeys) if (next() < 0.6) labels[key] = pick(labelValues);
        return {
          kind: "ConfigMap",
          metadata: {
            ...(namespace === undefined ? {} : { namespace }),
            name,
            resourceVersion: String((resourceVersion += 1)),
            ...(next() < 0.9 ? { labels } : {}),
          },
        };
      };
      let emit: ((event: WatchEvent) => void) | undefined;
      let fail: ((error: Error) => void) | undefined;
      let lists = 0;
      const listWatcher: ListWatcher = {
        list: async () => {
          lists += 1;
          return { items: [...server.values()], resourceVersion: String(resourceVersion) };
        },
        watch: async (_from, handlers, signal) => {
          handlers.onConnected();
          await new Promise<void>((_, reject) => {
            emit = handlers.onEvent;
            fail = reject;
            signal.addEventListener("abort", () => reject(signal.reason));
          });
        },
      };
      const informer = new Informer({
        name: "configmaps",
        listWatcher,
        log: silentLogger(),
        backoff: { baseMs: 1, maxMs: 2 },
      });
      // The initial list: a few objects before the informer starts.
      for (let index = 0; index < 8; index++) {
        const object = make(pick(namespaces), `n${index}`);
        server.set(keyToString(keyOf(object)), object);
      }
      informer.start();
      await informer.waitForSync();
      await settle(() => emit !== undefined);

      const check = (step: string) => {
        for (const [namespace, labels] of queries()) {
          const want = scanned(informer, namespace, labels);
          const got = indexed(informer, namespace, labels);
          const where = `${step}: list(${JSON.stringify(namespace)}, ${JSON.stringify(labels)})`;
          // A namespace's list keeps the store's order; a labelled one holds the same objects.
          if (Object.keys(labels).length === 0) expect(got, where).toEqual(want);
          else expect([...got].sort(), where).toEqual([...want].sort());
        }
        expect(informer.list().length).toBe(server.size);
        // No bucket outlives its last object: one per namespace and namespace+label held now.
        const held = new Set(
          informer
            .list()
            .flatMap((object) => [
              object.metadata?.namespace ?? "",
              ...Object.entries(object.metadata?.labels ?? {}).map(
                ([key, value]) => `${object.metadata?.namespace ?? ""} ${key}=${value}`,
              ),
            ]),
        );
        expect(informer.indexBuckets, `${step}: index buckets`).toBe(held.size);
      };
      check("initial list");

      for (let step = 0; step < 300; step++) {
        const name = `n${Math.floor(next() * 12)}`;
        const existing = [...server.values()].find((object) => object.metadata?.name === name);
        const roll = next();
        if (roll < 0.08) {
          // Disconnected: changes the informer never hears of, then 410 Gone and a relist.
          for (let change = 0; change < 4; change++) {
            const victim = pick([...server.keys()]);
            if (victim !== undefined && next() < 0.5) server.delete(victim);
            else {
              const object = make(pick(namespaces), `n${Math.floor(next() * 12)}`);
              for (const [key, other] of server)
                if (other.metadata?.name === object.metadata?.name) server.delete(key);
              server.set(keyToString(keyOf(object)), object);
            }
          }
          const before = lists;
          const watch = fail!;
          emit = undefined;
          watch(new KubeApiError(410, "too old resource version", "Expired"));
          await settle(() => lists > before && emit !== undefined);
        } else if (existing === undefined) {
          const object = make(pick(namespaces), name);
          server.set(keyToString(keyOf(object)), object);
          emit!({ type: "ADDED", object });
        } else if (roll < 0.3) {
          server.delete(keyToString(keyOf(existing)));
          emit!({ type: "DELETED", object: existing });
        } else if (roll < 0.45) {
          // Deleted and made again under the same name, maybe in another namespace, other labels.
          server.delete(keyToString(keyOf(existing)));
          emit!({ type: "DELETED", object: existing });
          const object = make(pick(namespaces), name);
          server.set(keyToString(keyOf(object)), object);
          emit!({ type: "ADDED", object });
        } else {
          // Modified: labels changed (moves between buckets), or only the resourceVersion.
          const changed = make(existing.metadata?.namespace, name);
          const object =
            next() < 0.5
              ? changed
              : {
                  ...existing,
                  metadata: { ...existing.metadata, resourceVersion: changed.metadata?.resourceVersion },
                };
          server.set(keyToString(keyOf(object)), object);
          emit!({ type: "MODIFIED", object });
        }
        check(`seed ${seed}, step ${step}`);
      }
      expect(lists).toBeGreaterThan(5); // relists did happen
      // Everything deleted: no bucket is left behind.
      for (const object of [...server.values()]) {
        server.delete(keyToString(keyOf(object)));
        emit!({ type: "DELETED", object });
      }
      expect(informer.list()).toEqual([]);
      expect(informer.indexBuckets).toBe(0);
      await informer.stop();
    });
  }
});
