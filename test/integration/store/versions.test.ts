// The version registry on real Redis (standalone and cluster): a version records the model file and,
// per entity, the prompt template its writers registered it with; another model file or another
// template for a recorded entity is refused, saying which, while a writer of a new entity adds its
// template, also in an entry written without templates (by an older writer).
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
});
