// jude_operator_watch_last_event_age_seconds is what a scrape reads at that moment: the age of each
// informer's last successful list, connection or event, measured when /metrics is read, not a value
// left behind by the last readiness probe (nothing else asked for it before).
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { InformerCache } from "../../../operator/runtime/informer-cache.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { createOperatorMetrics } from "../../../operator/runtime/metrics.ts";
import { resourceTypes } from "../../../operator/runtime/resource-types.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { requireEnv } from "../../support/env.ts";
import { waitFor } from "../../testbed/wait.ts";
import { createRestrictedNamespace, deleteNamespace } from "./operator-harness.ts";

const namespace = `operator-watch-age-${process.pid}`;
let client: KubeClient;
let cache: InformerCache;
const metrics = createOperatorMetrics();

beforeAll(async () => {
  await createRestrictedNamespace(namespace);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
  client = new KubeClient(kubeConfig);
  cache = new InformerCache({ client, namespaces: [namespace], log: silentLogger(), metrics });
  cache.use(resourceTypes.configMap, { managedOnly: false });
  await cache.start();
  // The namespace's root CA ConfigMap is created just after the namespace; past it, nothing changes.
  await waitFor(
    "the namespace's kube-root-ca.crt in the cache",
    () => cache.get(resourceTypes.configMap, { namespace, name: "kube-root-ca.crt" }) !== undefined,
  );
});

afterAll(async () => {
  await cache?.stop();
  await client?.close();
  await deleteNamespace(namespace);
});

/** The age a scrape of the operator's registry shows for the namespace's ConfigMap informer. */
async function scrapedAge(): Promise<number> {
  const text = await metrics.registry.metrics();
  const match = new RegExp(
    `^jude_operator_watch_last_event_age_seconds\\{resource="[a-z]+/${namespace}"\\} ([0-9.e+-]+)$`,
    "m",
  ).exec(text);
  expect(
    match,
    text
      .split("\n")
      .filter((line) => line.includes("watch_last_event_age"))
      .join("\n"),
  ).not.toBe(null);
  return Number(match![1]);
}

it("measures the informers' activity age at each scrape, without a readiness probe", async () => {
  // Nothing happens in the test's namespace meanwhile, so the age only grows between two scrapes.
  const first = await scrapedAge();
  await sleep(1500);
  const second = await scrapedAge();
  expect(second).toBeGreaterThanOrEqual(first + 1.4);
});
