// The version registry on real Redis (standalone and cluster): a version records the model file, its
// vector settings (pooling, normalize, maxSequenceLength, precision) and, per entity, the prompt
// template its writers registered it with; another model file, setting or template for a recorded
// entity is refused, saying which, while a writer of a new entity adds its template, also in an entry
// written without templates or settings (by an older writer).
import { afterEach, describe, expect, it } from "vitest";
import {
  getVersion,
  isStoreError,
  markVersionComplete,
  promptDigest,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets } from "./helpers.ts";

const model = `sha256:${"a".repeat(64)}`;
const job = "Job: {{title}}";
const settings = { pooling: "mean", normalize: true, maxSequenceLength: 512, precision: "fp32" } as const;

describe.each(testTargets())("the version registry on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("records each entity's prompt template and refuses another one, naming it", async () => {
    testStore = await createTestStore(target, "promptreg-versions");
    const { store } = testStore;
    const registered = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
    });
    expect(registered.prompts).toEqual({ job: promptDigest(job) });
    await markVersionComplete(store, "v1");
    // The same template again (a worker restarting, a shard of the same run): nothing changes.
    expect(
      await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { job } }),
    ).toEqual(await getVersion(store, "v1"));
    // Another entity's pipeline writing the version adds its template.
    const added = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { resume: "Resume: {{summary}}" },
    });
    expect(added).toMatchObject({
      state: "complete",
      prompts: { job: promptDigest(job), resume: promptDigest("Resume: {{summary}}") },
    });
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job: "Title: {{title}}" },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain(
      `version v1 cannot be written: it was registered with prompt template ${promptDigest(job)} for entity job, not this writer's ${promptDigest("Title: {{title}}")}`,
    );
    const otherModel = await registerVersion(store, "v1", {
      modelDigest: `sha256:${"b".repeat(64)}`,
      dimension: 4,
      prompts: { job },
    }).catch((error: unknown) => error);
    expect(isStoreError(otherModel, "PRECONDITION_FAILED")).toBe(true);
    expect((otherModel as Error).message).toContain(
      `it was registered with model ${model}, not this writer's sha256:${"b".repeat(64)}`,
    );
    expect((await getVersion(store, "v1"))?.prompts).toEqual(added.prompts);
  });

  it("records a template in an entry registered without any (an older writer) from then on", async () => {
    testStore = await createTestStore(target, "promptreg-versions-old");
    const { store } = testStore;
    await registerVersion(store, "v1", { modelDigest: model, dimension: 4 });
    const again = await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { job } });
    expect(again.prompts).toEqual({ job: promptDigest(job) });
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job: "Other {{x}}" },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect(await getVersion(store, "v1")).toEqual(again);
  });

  it("records the vector settings and refuses other ones, naming each that differs", async () => {
    testStore = await createTestStore(target, "vecspec-versions");
    const { store } = testStore;
    const registered = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
      vectorSettings: settings,
    });
    expect(registered.vectorSettings).toEqual(settings);
    await markVersionComplete(store, "v1");
    // The same settings again (a worker restarting, a shard), or a writer not told them: unchanged.
    expect(
      await registerVersion(store, "v1", {
        modelDigest: model,
        dimension: 4,
        vectorSettings: { ...settings },
      }),
    ).toEqual(await getVersion(store, "v1"));
    expect(
      await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { job } }),
    ).toEqual(await getVersion(store, "v1"));
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job, resume: "Resume: {{summary}}" },
      vectorSettings: { ...settings, pooling: "cls", maxSequenceLength: 256 },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain(
      "version v1 cannot be written: it was registered with pooling mean, not this writer's cls, and maxSequenceLength 512, not this writer's 256",
    );
    expect((refused as Error).message).toContain("give the EmbeddingModel a new version name");
    for (const other of [{ normalize: false }, { precision: "int8" }] as const) {
      const each = await registerVersion(store, "v1", {
        modelDigest: model,
        dimension: 4,
        vectorSettings: { ...settings, ...other },
      }).catch((error: unknown) => error);
      expect(isStoreError(each, "PRECONDITION_FAILED")).toBe(true);
    }
    // Nothing of a refused registration is written (not the other entity's template either).
    expect(await getVersion(store, "v1")).toEqual({
      ...registered,
      state: "complete",
      completedAtMs: expect.any(Number),
    });
  });

  it("records vector settings in an entry registered without them (an older writer) from then on", async () => {
    testStore = await createTestStore(target, "vecspec-versions-old");
    const { store } = testStore;
    await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { job } });
    const again = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
      vectorSettings: settings,
    });
    expect(again).toMatchObject({
      prompts: { job: promptDigest(job) },
      vectorSettings: settings,
    });
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      vectorSettings: { ...settings, normalize: false },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain("normalize true, not this writer's false");
    expect(await getVersion(store, "v1")).toEqual(again);
  });
});
