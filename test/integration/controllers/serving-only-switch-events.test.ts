// A model no NearlinePipeline names switches readers by moving its query Service alone. Walked on the
// testbed (helm-installed operator, `kubectl jude rollback`): the promotion and the rollback recorded
// only phase Events, no Promoted nor RolledBack, though the RolledBack condition turned True and the
// README's Events table gives those reasons for readers switching. Each switch gets its Event, once;
// the first version going live too (a model with a store says Promoted for its first pointer).
import { describe, expect, it } from "vitest";
import { waitFor } from "../../testbed/wait.ts";
import { apply, cpuModel, getObject, useInProcessOperator, type Json } from "../operator/operator-harness.ts";
import { embeddingModelEvents } from "./harness.ts";

const namespace = `it-serving-only-events-${process.pid}-${Date.now().toString(36)}`;

/** The model at `version`: its own file per version, so each is a new build. */
const modelAt = (version: string): Json => {
  const model = cpuModel(namespace, "minilm", {
    replicas: 1,
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }],
  });
  const spec = model.spec as Json;
  spec.version = version;
  spec.model = { uri: `file:///opt/models/minilm/${version}.onnx`, dimensions: 384 };
  return model;
};

const activeVersion = async () =>
  ((await getObject("embeddingmodel/minilm", namespace))?.status as Json | undefined)?.activeVersion;
const messages = async (reason: string) =>
  (await embeddingModelEvents(namespace, `,reason=${reason}`)).map((event) => event.message as string);
const until = (what: string, check: () => Promise<boolean>) =>
  waitFor(what, check, { timeoutMs: 60_000, intervalMs: 250 });

describe("a serving-only model's switches", () => {
  useInProcessOperator(namespace);

  it("records Promoted when v1 goes live and when the query Service moves to v2, RolledBack when it moves back", async () => {
    await apply([modelAt("v1")]);
    await until("v1 active", async () => (await activeVersion()) === "v1");
    await until("a Promoted Event", async () => (await messages("Promoted")).length > 0);
    expect(await messages("Promoted")).toEqual([
      "readers switched from no version to v1 (query Service moved; no store: no NearlinePipeline names this model)",
    ]);
    await apply([modelAt("v2")]);
    await until("v2 active", async () => (await activeVersion()) === "v2");
    await until("a second Promoted Event", async () => (await messages("Promoted")).length > 1);
    expect((await messages("Promoted")).sort()).toEqual([
      "readers switched from no version to v1 (query Service moved; no store: no NearlinePipeline names this model)",
      "readers switched from v1 to v2 (query Service moved; no store: no NearlinePipeline names this model)",
    ]);

    await apply([modelAt("v1")]);
    await until("v1 active again", async () => (await activeVersion()) === "v1");
    await until("a RolledBack Event", async () => (await messages("RolledBack")).length > 0);
    expect(await messages("RolledBack")).toEqual([
      "readers switched from v2 to v1 (query Service moved; no store: no NearlinePipeline names this model)",
    ]);
    expect(await messages("Promoted")).toHaveLength(2);
  });
});
