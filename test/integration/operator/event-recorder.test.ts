// The operator's Events against the testbed's API server. A repeat of an Event within its aggregation
// window bumps the count of the Event it created; when that Event is gone (deleted by hand, `kubectl
// delete events --all`, or expired under a short --event-ttl), the repeat must be recorded as a new
// Event, not lost to the 404 of a patch.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventRecorder } from "../../../operator/runtime/event-recorder.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { resourcePath, resourceTypes } from "../../../operator/runtime/resource-types.ts";
import type { KubeObject } from "../../../operator/runtime/types.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { createRestrictedNamespace, deleteNamespace } from "./operator-harness.ts";

const namespace = `operator-events-${process.pid}`;
let client: KubeClient;

beforeAll(async () => {
  await createRestrictedNamespace(namespace);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
  client = new KubeClient(kubeConfig);
});

afterAll(async () => {
  await client?.close();
  await deleteNamespace(namespace);
});

describe("Events whose earlier occurrence was deleted", () => {
  it("records the repeat as a new Event", async () => {
    const events = createEventRecorder(client, { component: "c", fieldManager: "m", log: silentLogger() });
    const object = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "subject", namespace, uid: `uid-${process.pid}` },
    } as KubeObject;
    const counts = async () =>
      (await client.list(resourcePath(resourceTypes.event, namespace))).items
        .filter((event) => (event as { reason?: string }).reason === "StoreUnreachable")
        .map((event) => (event as { count?: number }).count);
    const until = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 15_000, intervalMs: 100 });

    events.warning(object, "StoreUnreachable", "store down");
    await until("the Event", async () => (await counts()).length === 1);
    events.warning(object, "StoreUnreachable", "store down");
    await until("its count bumped", async () => (await counts())[0] === 2);

    await kubectl(["delete", "events", "--all", "-n", namespace, "--wait=true"]);
    await until("the Events gone", async () => (await counts()).length === 0);
    events.warning(object, "StoreUnreachable", "store down");
    await until("the repeat recorded", async () => (await counts()).length === 1);
    expect(await counts()).toEqual([1]);
  });
});

describe("an Event repeated before its previous occurrence was written", () => {
  // Events are emitted without waiting (a reconcile does not wait for them), so the next reconcile of
  // the same object can repeat one while the last occurrence's create or patch is still in flight:
  // the repeat must still count on the one Event, also when that Event was deleted (both occurrences
  // would otherwise see the 404 and each create an Event of its own).
  it("counts both occurrences on one Event", async () => {
    const events = createEventRecorder(client, { component: "c", fieldManager: "m", log: silentLogger() });
    const object = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "burst", namespace, uid: `burst-${process.pid}` },
    } as KubeObject;
    const counts = async () =>
      (await client.list(resourcePath(resourceTypes.event, namespace))).items
        .filter((event) => (event as { reason?: string }).reason === "BurstRepeated")
        .map((event) => (event as { count?: number }).count ?? 0);
    const total = async () => (await counts()).reduce((sum, count) => sum + count, 0);
    const until = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 15_000, intervalMs: 100 });

    events.warning(object, "BurstRepeated", "again");
    events.warning(object, "BurstRepeated", "again");
    await until("both occurrences recorded", async () => (await total()) === 2);
    expect(await counts()).toEqual([2]);

    await kubectl(["delete", "events", "--all", "-n", namespace, "--wait=true"]);
    await until("the Events gone", async () => (await counts()).length === 0);
    events.warning(object, "BurstRepeated", "again");
    events.warning(object, "BurstRepeated", "again");
    await until("both repeats recorded", async () => (await total()) === 2);
    expect(await counts()).toEqual([2]);
  });
});
