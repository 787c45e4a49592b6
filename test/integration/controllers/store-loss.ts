// What the tests of a promoted model whose store lost data (store-data-loss, store-rewound) share: their
// setup (a promoted model on its own store, a short resync), what they read (the model, the version its
// query Service selects) and play (the rebuild of a lost version).
import { afterAll, beforeAll } from "vitest";
import type { Store, StoreReader } from "../../../store/index.ts";
import { readPointer } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import {
  buildVersion,
  promoteThroughBootstrap,
  type PromotionOperator,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

/**
 * The model's resync here (--model-resync-seconds; 30 s in production): nothing but the resync wakes a
 * model at rest, and it stays longer than the 6 s of quiet the tests wait for before touching the store.
 */
export const modelResyncMs = 10_000;

/** A suite's promoted model, its store and operator (set once its beforeAll ran), and what it reads. */
export interface StoreLossSuite {
  readonly setup: PromotionSetup;
  readonly namespace: string;
  readonly operator: PromotionOperator;
  readonly store: Store;
  /** A ranking service reading since before the loss; closed after the suite. */
  reader: StoreReader | undefined;
  /** The model as the API server holds it now. */
  model(): Promise<Json>;
  /** The version the query Service selects. */
  querySelector(): Promise<unknown>;
  until(what: string, check: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
}

/**
 * Registers the suite's beforeAll (a model on its own store, every parity sample matching, promoted
 * through `versions` in order) and afterAll (reader closed, operator stopped, namespace deleted).
 */
export function storeLossSuite(prefix: string, versions: readonly string[]): StoreLossSuite {
  let setup: PromotionSetup | undefined;
  const ready = (): PromotionSetup => {
    if (setup === undefined) throw new Error(`${prefix}: the suite's setup has not run`);
    return setup;
  };
  const suite: StoreLossSuite = {
    get setup() {
      return ready();
    },
    get namespace() {
      return ready().namespace;
    },
    get operator() {
      return ready().operator;
    },
    get store() {
      return ready().store;
    },
    reader: undefined,
    model: () => jobsModel(ready().namespace),
    querySelector: () => queriedVersion(ready().namespace),
    until: (what, check, timeoutMs = 90_000) => waitFor(what, check, { timeoutMs, intervalMs: 250 }),
  };
  beforeAll(async () => {
    setup = await setUpPromotion(prefix, () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }), {
      settings: { modelResyncMs },
    });
    let previous: string | undefined;
    for (const version of versions) {
      await promoteThroughBootstrap(setup, version, previous === undefined ? [version] : [previous, version]);
      previous = version;
    }
  }, 240_000);
  afterAll(async () => {
    await suite.reader?.close();
    await setup?.stop();
  });
  return suite;
}

/** The EmbeddingModel `jobs-model` of `namespace` as the API server holds it now. */
export const jobsModel = async (namespace: string): Promise<Json> =>
  (await getObject("embeddingmodel/jobs-model", namespace)) as Json;

/** The version the query Service `jobs-model` of `namespace` selects (its `jude.dev/version` selector). */
export const queriedVersion = async (namespace: string): Promise<unknown> =>
  (
    ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
      Json | undefined
  )?.["jude.dev/version"];

/**
 * Plays the rebuild of `version` the store lost: waits for the operator's new run of it (no phase
 * yet), builds the version (`live` versions' workers caught up), and waits until the pointer names
 * it again and the model is Ready again.
 */
export async function rebuildLostVersion(
  store: Store,
  namespace: string,
  version: string,
  live: string[],
): Promise<void> {
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });
  await until(`${version}'s new run`, async () => {
    const run = await getObject(`bootstraprun/jobs-${version}-promotion`, namespace);
    return run !== undefined && (run.status as Json | undefined)?.phase === undefined;
  });
  await buildVersion(store, namespace, version, live);
  await until(`pointer on ${version} again`, async () => (await readPointer(store)).current === version);
  await until("Ready again", async () => condition(await jobsModel(namespace), "Ready")?.status === "True");
}
