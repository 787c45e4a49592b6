import { describe, expect, it } from "vitest";
import type { StoreOwner } from "../../store/index.ts";
import {
  classifyOwner,
  decideOwnership,
  decideUnowned,
  rememberedOwner,
  needsOwnerLookup,
  type OwnerLookup,
  type OwnerSighting,
} from "./store-ownership.ts";

const prefix = "jude:jobs";
const self = { namespace: "team-b", name: "other-model", uid: "uid-b" };
const owner: StoreOwner = { namespace: "team-a", name: "jobs-model", uid: "uid-a", claimedAtMs: 1 };

describe("store ownership", () => {
  it("claims a store nobody owns and keeps one it owns, without looking anything up", () => {
    expect(needsOwnerLookup(self, undefined)).toBe(false);
    expect(decideOwnership(self, prefix, undefined)).toEqual({ action: "claim" });
    const mine = { ...self, claimedAtMs: 5 };
    expect(needsOwnerLookup(self, mine)).toBe(false);
    expect(decideOwnership(self, prefix, mine)).toEqual({ action: "own" });
  });

  it("takes its own store back after being deleted and created again under the same name", () => {
    const previous = { ...self, uid: "uid-b-old", claimedAtMs: 5 };
    expect(needsOwnerLookup(self, previous)).toBe(false);
    expect(decideOwnership(self, prefix, previous)).toMatchObject({ action: "takeOver", stale: previous });
  });

  it.each<[string, OwnerLookup, string]>([
    ["the owner was deleted", { state: "gone" }, "team-a/jobs-model no longer exists"],
    [
      "the owner's pipelines name another store",
      { state: "moved", store: "jude:other" },
      "now names store jude:other",
    ],
    ["the owner has no pipelines any more", { state: "moved", store: undefined }, "names no store any more"],
  ])("takes over when %s", (_, lookup, why) => {
    expect(needsOwnerLookup(self, owner)).toBe(true);
    const step = decideOwnership(self, prefix, owner, lookup);
    expect(step).toMatchObject({ action: "takeOver", stale: owner });
    expect(step.action === "takeOver" && step.why).toContain(why);
  });

  it.each<[string, OwnerLookup | undefined, string]>([
    ["the owner still names the store", { state: "present" }, ""],
    ["the owner was recreated (it takes the store back)", { state: "recreated" }, "was created again"],
    [
      "the owner cannot be checked",
      { state: "unknown", reason: "forbidden" },
      "could not be checked: forbidden",
    ],
    ["nothing was looked up", undefined, ""],
  ])("yields when %s, naming the owner", (_, lookup, detail) => {
    const step = decideOwnership(self, prefix, owner, lookup);
    expect(step).toMatchObject({ action: "yield", owner });
    const message = step.action === "yield" ? step.message : "";
    expect(message).toContain("store jude:jobs is owned by EmbeddingModel team-a/jobs-model");
    expect(message).toContain(detail);
  });

  // The owner record went with the store's data (Redis restarted without persistence, flushed): the
  // model kept off, which looks again every 10 s, claimed the store before the owner's next resync,
  // and the owner, whose readers use the store, then yielded to it.
  describe("a store without an owner record, to a model that yielded it", () => {
    const remembered = { namespace: owner.namespace, name: owner.name, uid: owner.uid };

    it.each<[string, OwnerLookup | undefined, string]>([
      ["the owner still names the store", { state: "present" }, "claims it back"],
      ["nothing was looked up", undefined, "claims it back"],
      ["the owner was recreated naming it", { state: "recreated" }, "was created again"],
      ["the owner cannot be checked", { state: "unknown", reason: "forbidden" }, "forbidden"],
    ])("keeps off when %s", (_, lookup, detail) => {
      const step = decideUnowned(self, prefix, { remembered, hasPointer: false }, lookup);
      expect(step).toMatchObject({ action: "yield", owner: { ...remembered, claimedAtMs: null } });
      const message = step.action === "yield" ? step.message : "";
      expect(message).toContain("store jude:jobs is owned by EmbeddingModel team-a/jobs-model");
      expect(message).toContain("the store has no owner record (it lost its data)");
      expect(message).toContain(detail);
    });

    it.each<[string, OwnerLookup]>([
      ["the owner was deleted", { state: "gone" }],
      ["the owner names another store", { state: "moved", store: "jude:other" }],
    ])("claims it when %s", (_, lookup) => {
      expect(decideUnowned(self, prefix, { remembered, hasPointer: false }, lookup)).toEqual({
        action: "claim",
      });
    });

    it("claims it when no owner is remembered, or the one remembered is itself", () => {
      const lost = (remembered: typeof self | undefined) => ({ remembered, hasPointer: false });
      expect(decideUnowned(self, prefix, lost(undefined))).toEqual({ action: "claim" });
      expect(decideUnowned(self, prefix, lost(self))).toEqual({ action: "claim" });
      expect(decideUnowned(self, prefix, lost({ ...self, uid: "uid-b-old" }))).toEqual({ action: "claim" });
    });

    // Its StoreConflict message says to point its pipelines at another store: another Redis under the
    // same store name is empty, as a store that lost its data is, but it is not the owner's store.
    it("remembers the owner only for the store's name in the database it was kept off", () => {
      const database = "redis://redis-a:6379/0";
      const conflict = { store: prefix, database, owner: remembered };
      expect(rememberedOwner(conflict, prefix, database)).toEqual(remembered);
      expect(rememberedOwner(conflict, prefix, "redis://redis-b:6379/0")).toBeUndefined();
      expect(rememberedOwner(conflict, prefix, "redis://redis-a:6379/1")).toBeUndefined();
      expect(rememberedOwner(conflict, "jude:other", database)).toBeUndefined();
      expect(rememberedOwner(undefined, prefix, database)).toBeUndefined();
      // Written before the database was noted: the store's name alone, as then.
      expect(rememberedOwner({ store: prefix, owner: remembered }, prefix, database)).toEqual(remembered);
    });

    // `DEL {P}:owner` by hand hands the store on (README): the pointer is still there then.
    it("claims it when only the owner record was deleted (the store keeps its pointer)", () => {
      const step = decideUnowned(self, prefix, { remembered, hasPointer: true }, { state: "present" });
      expect(step).toEqual({ action: "claim" });
    });
  });

  it.each<[string, OwnerSighting, OwnerLookup]>([
    ["deleted", { liveUid: undefined }, { state: "gone" }],
    ["still naming the store", { liveUid: "uid-a", store: { prefix } }, { state: "present" }],
    [
      "naming another store",
      { liveUid: "uid-a", store: { prefix: "jude:x" } },
      { state: "moved", store: "jude:x" },
    ],
    [
      "without pipelines",
      { liveUid: "uid-a", store: { prefix: undefined } },
      { state: "moved", store: undefined },
    ],
    ["recreated, naming the store", { liveUid: "uid-a2", store: { prefix } }, { state: "recreated" }],
    [
      "recreated, naming another store",
      { liveUid: "uid-a2", store: { prefix: "jude:x" } },
      { state: "gone" },
    ],
    [
      "in a namespace this operator does not watch",
      { liveUid: "uid-a" },
      { state: "unknown", reason: "namespace team-a is not watched by this operator" },
    ],
  ])("classifies an owner %s", (_, sighting, lookup) => {
    expect(classifyOwner(owner, prefix, sighting)).toEqual(lookup);
  });
});
