/**
 * The parity gate's sample of a candidate's stored vectors (controllers/embedding-model/parity-check.ts),
 * against real Redis: it reaches every live record of a small store (a first trial with a handful of
 * events: 5 records in 1,024 buckets, where random buckets found 1 or none), samples the full size
 * from a larger one, and never a deleted record.
 */

import { afterEach, describe, expect, it } from "vitest";
import { sampleStoredVectors } from "../../../controllers/embedding-model/parity-check.ts";
import { StoreWriter, registerVersion } from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, remove, testTargets, upsert } from "./helpers.ts";

describe.each(testTargets())("parity sample on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  async function storeWith(label: string, records: number): Promise<TestStore> {
    testStore = await createTestStore(target, label, 1024);
    await registerVersion(testStore.store, "v1", { modelDigest: "sha256:v1", dimension: 4 });
    await new StoreWriter(testStore.store).write(
      Array.from({ length: records }, (_, id) => upsert("v1", id, 1_000, id)),
    );
    return testStore;
  }

  it("samples every live record of a store smaller than the sample", async () => {
    const { store } = await storeWith("small", 5);
    await new StoreWriter(store).write([remove("v1", 4, 2_000, 10)]);
    const samples = await sampleStoredVectors({ store, version: "v1", sampleSize: 16 });
    expect(samples.map((sample) => sample.field).sort()).toEqual(["job:0", "job:1", "job:2", "job:3"]);
    expect(samples.find((sample) => sample.field === "job:2")).toMatchObject({
      entity: "job",
      partition: 0,
      offset: 2,
      contentHash: "h0",
      digest: "sha256:v1",
    });
  });

  it("samples the full size, each key once, from a larger store", async () => {
    const { store } = await storeWith("large", 300);
    const samples = await sampleStoredVectors({ store, version: "v1", sampleSize: 16 });
    expect(new Set(samples.map((sample) => sample.field)).size).toBe(16);
  });

  it("samples nothing from a version without records", async () => {
    const { store } = await storeWith("empty", 0);
    expect(await sampleStoredVectors({ store, version: "v1", sampleSize: 16 })).toEqual([]);
  });
});
