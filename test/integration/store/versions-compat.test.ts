// The version registry across a rolling upgrade, on real Redis (standalone and cluster): workers and
// shards of earlier releases (their register scripts, below as they were before templates were
// recorded, and before vector settings were) and of this one register the same version in either
// order. Neither refuses the other;
// the older writer never drops or rewrites the templates a newer one recorded, and a newer writer
// records its entity's template in an entry the older one created, so the version is guarded from
// then on (a model applied again with another template for it is refused, like a new entity's).
import { afterEach, describe, expect, it } from "vitest";
import {
  collectGarbage,
  deleteVersionStep,
  flip,
  getVersion,
  isStoreError,
  listVersions,
  markVersionComplete,
  promptDigest,
  registerVersion,
  type Store,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets } from "./helpers.ts";

/** registerVersionLua of the release before templates were recorded (dc7a2fa), verbatim. */
const previousRegisterLua = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local info = cjson.decode(existing)
  if info.modelDigest ~= ARGV[2] or info.state == 'deleting' then
    return {'PRECONDITION_FAILED', existing}
  end
  return {'ok', existing}
end
local encoded = cjson.encode({version = ARGV[1], state = 'building', modelDigest = ARGV[2],
  dtype = ARGV[3], dimension = tonumber(ARGV[4]), createdAtMs = now()})
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
`;

/** registerVersionLua of the release before vector settings were recorded (325e509), verbatim. */
const promptsRegisterLua = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local prompts = nil
if ARGV[5] and ARGV[5] ~= '' then
  prompts = cjson.decode(ARGV[5])
  if next(prompts) == nil then prompts = nil end
end
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local info = cjson.decode(existing)
  if info.modelDigest ~= ARGV[2] or info.state == 'deleting' then
    return {'PRECONDITION_FAILED', existing}
  end
  if prompts == nil then return {'ok', existing} end
  if type(info.prompts) ~= 'table' then info.prompts = {} end
  local added = false
  for entity, digest in pairs(prompts) do
    local recorded = info.prompts[entity]
    if recorded == nil then
      info.prompts[entity] = digest
      added = true
    elseif recorded ~= digest then
      return {'PRECONDITION_FAILED', existing}
    end
  end
  if not added then return {'ok', existing} end
  local encoded = cjson.encode(info)
  redis.call('HSET', KEYS[1], ARGV[1], encoded)
  return {'ok', encoded}
end
local entry = {version = ARGV[1], state = 'building', modelDigest = ARGV[2],
  dtype = ARGV[3], dimension = tonumber(ARGV[4]), createdAtMs = now()}
if prompts ~= nil then entry.prompts = prompts end
local encoded = cjson.encode(entry)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
`;

const model = `sha256:${"c".repeat(64)}`;
const job = "Job: {{title}}";
const resume = "Resume: {{summary}}";
const settings = { pooling: "mean", normalize: true, maxSequenceLength: 512, precision: "fp32" } as const;

/** What a worker of the release before vector settings sends (with its entity's template digest). */
async function registerAsPrompts(store: Store, version: string, entity: string, template: string) {
  return (await store.client.eval(
    promptsRegisterLua,
    1,
    store.keys.versions,
    version,
    model,
    "f32",
    "4",
    JSON.stringify({ [entity]: promptDigest(template) }),
  )) as [string, string];
}

/** What a worker of the previous release sends (version, digest, dtype, dimension; no templates). */
async function registerAsPrevious(store: Store, version: string): Promise<[string, string]> {
  return (await store.client.eval(
    previousRegisterLua,
    1,
    store.keys.versions,
    version,
    model,
    "f32",
    "4",
  )) as [string, string];
}

describe.each(testTargets())("the version registry during a rolling upgrade on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("a previous writer after a newer one: accepted, the recorded templates kept", async () => {
    testStore = await createTestStore(target, "reviewreg-compat-new-first");
    const { store } = testStore;
    const registered = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
    });
    const [status] = await registerAsPrevious(store, "v1");
    expect(status).toBe("ok");
    expect(await getVersion(store, "v1")).toEqual(registered);
    await markVersionComplete(store, "v1");
    expect((await getVersion(store, "v1"))?.prompts).toEqual({ job: promptDigest(job) });
    // A newer writer of the same version after both: nothing changes, nothing refused.
    expect(
      (await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { job } })).prompts,
    ).toEqual({ job: promptDigest(job) });
  });

  it("a newer writer after a previous one: accepted, its entity's template recorded from then on", async () => {
    testStore = await createTestStore(target, "reviewreg-compat-old-first");
    const { store } = testStore;
    const [status, created] = await registerAsPrevious(store, "v1");
    expect(status).toBe("ok");
    await markVersionComplete(store, "v1");
    const upgraded = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
    });
    expect(upgraded).toMatchObject({
      ...(JSON.parse(created) as object),
      state: "complete",
      prompts: { job: promptDigest(job) },
    });
    // The previous release's workers still running beside it: accepted, the template kept.
    expect((await registerAsPrevious(store, "v1"))[0]).toBe("ok");
    // Another entity's newer writer adds its own; another template for job is refused, saying what to do.
    expect(
      (await registerVersion(store, "v1", { modelDigest: model, dimension: 4, prompts: { resume } })).prompts,
    ).toEqual({ job: promptDigest(job), resume: promptDigest(resume) });
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job: "Title: {{title}}" },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain(
      `it was registered with prompt template ${promptDigest(job)} for entity job, not this writer's ${promptDigest("Title: {{title}}")}`,
    );
    expect((refused as Error).message).toContain("a new version name");
    expect((await getVersion(store, "v1"))?.prompts).toEqual({
      job: promptDigest(job),
      resume: promptDigest(resume),
    });
  });

  it("writers without vector settings after a newer one: accepted, the settings kept", async () => {
    testStore = await createTestStore(target, "vecspec-compat-new-first");
    const { store } = testStore;
    const registered = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
      vectorSettings: settings,
    });
    expect((await registerAsPrevious(store, "v1"))[0]).toBe("ok");
    expect((await registerAsPrompts(store, "v1", "job", job))[0]).toBe("ok");
    expect(await getVersion(store, "v1")).toEqual(registered);
    // The release before settings adds another entity's template: it rewrites the entry, keeping them.
    const [status, rewritten] = await registerAsPrompts(store, "v1", "resume", resume);
    expect(status).toBe("ok");
    expect(JSON.parse(rewritten)).toMatchObject({
      vectorSettings: settings,
      prompts: { job: promptDigest(job), resume: promptDigest(resume) },
    });
    await markVersionComplete(store, "v1");
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
      vectorSettings: { ...settings, pooling: "cls" },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain("pooling mean, not this writer's cls");
  });

  it("a newer writer after ones without vector settings: accepted, its settings recorded from then on", async () => {
    testStore = await createTestStore(target, "vecspec-compat-old-first");
    const { store } = testStore;
    const [status, created] = await registerAsPrompts(store, "v1", "job", job);
    expect(status).toBe("ok");
    await markVersionComplete(store, "v1");
    const upgraded = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      prompts: { job },
      vectorSettings: settings,
    });
    expect(upgraded).toEqual({
      ...(JSON.parse(created) as object),
      state: "complete",
      completedAtMs: expect.any(Number),
      vectorSettings: settings,
    });
    // Earlier releases' writers still running beside it: accepted, nothing changed.
    expect((await registerAsPrevious(store, "v1"))[0]).toBe("ok");
    expect((await registerAsPrompts(store, "v1", "job", job))[0]).toBe("ok");
    expect(await getVersion(store, "v1")).toEqual(upgraded);
    const refused = await registerVersion(store, "v1", {
      modelDigest: model,
      dimension: 4,
      vectorSettings: { ...settings, precision: "fp16" },
    }).catch((error: unknown) => error);
    expect(isStoreError(refused, "PRECONDITION_FAILED")).toBe(true);
    expect((refused as Error).message).toContain("precision fp32, not this writer's fp16");
  });
});

// After a downgrade an older release reads the registry a newer one wrote. A state it does not know is
// kept as written: listed (not CORRUPT_RECORD, which would fail every reconcile of the model), never
// taken for complete (no flip to it), never overwritten (marked complete or deleting) nor collected.
describe.each(testTargets())("a registry state of a newer release on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("is listed as written, and nothing this release does changes or deletes it", async () => {
    testStore = await createTestStore(target, "reviewreg-compat-newer-state");
    const { store } = testStore;
    await registerVersion(store, "v1", { modelDigest: model, dimension: 4 });
    await markVersionComplete(store, "v1");
    await flip(store, { expectedCurrent: null, target: "v1" });
    const written = JSON.stringify({
      version: "v2",
      state: "sealed",
      modelDigest: model,
      dtype: "f32",
      dimension: 4,
      createdAtMs: Date.now(),
      sealedBy: "a newer release",
    });
    await store.client.hset(store.keys.versions, "v2", written);

    const listed = await listVersions(store);
    expect(listed.map((info) => [info.version, info.state])).toEqual([
      ["v1", "complete"],
      ["v2", "sealed"],
    ]);
    const refused = async (step: Promise<unknown>) => {
      const error = await step.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isStoreError(error)).toBe(true);
      return (error as { code: string }).code;
    };
    expect(await refused(flip(store, { expectedCurrent: "v1", target: "v2" }))).toBe("VERSION_NOT_COMPLETE");
    expect(await refused(markVersionComplete(store, "v2"))).toBe("PRECONDITION_FAILED");
    expect(await refused(deleteVersionStep(store, "v2"))).toBe("PRECONDITION_FAILED");
    expect(await collectGarbage(store, { retainVersions: 0 })).toEqual([]);
    expect(await store.client.hget(store.keys.versions, "v2")).toBe(written);
  });
});
