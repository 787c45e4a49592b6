// What the tests of a promoted model whose store lost data (store-data-loss, store-rewound) read and
// play: the model, the version its query Service selects, and the rebuild of a lost version.
import type { Store } from "../../../store/index.ts";
import { readPointer } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import { buildVersion } from "./harness.ts";

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
