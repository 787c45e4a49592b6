import { describe, expect, it } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import { createEventRecorder } from "./event-recorder.ts";
import type { KubeClient } from "./kube-client.ts";
import type { KubeObject } from "./types.ts";

const model = {
  apiVersion: "jude.dev/v1alpha1",
  kind: "EmbeddingModel",
  metadata: { name: "shop", namespace: "ns", uid: "u1" },
} as KubeObject;

/** A KubeClient that records the Event writes it is asked for. */
function recordingClient() {
  const writes: string[] = [];
  const client = {
    create: async (_path: string, event: { reason: string }) => void writes.push(`create ${event.reason}`),
    mergePatch: async (_path: string, patch: { count: number }) => void writes.push(`count ${patch.count}`),
  } as unknown as KubeClient;
  return { writes, client };
}

/** Lets the recorder's fire-and-forget writes run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("event recorder", () => {
  it("creates an Event, then bumps its count for the same reason and message", async () => {
    const { writes, client } = recordingClient();
    const events = createEventRecorder(client, { component: "c", fieldManager: "m", log: silentLogger() });
    events.warning(model, "ReconcileError", "store down");
    await settle();
    events.warning(model, "ReconcileError", "store down");
    await settle();
    expect(writes).toEqual(["create ReconcileError", "count 2"]);
  });

  it("records nothing once this replica lost the Lease (the fence throws)", async () => {
    const { writes, client } = recordingClient();
    const leading = new AbortController();
    const events = createEventRecorder(client, {
      component: "c",
      fieldManager: "m",
      log: silentLogger(),
      fence: () => leading.signal.throwIfAborted(),
    });
    events.normal(model, "StoreClaimed", "claimed");
    await settle();
    leading.abort(new Error("lost the leader lease"));
    events.normal(model, "StoreClaimed", "claimed");
    events.warning(model, "Promoted", "flipped to v2");
    await settle();
    expect(writes).toEqual(["create StoreClaimed"]);
  });
});
