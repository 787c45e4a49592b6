/**
 * A checkpoint save retried after its reply was lost (the save landed: ridingOutage retries it through
 * a store outage, link mode after-reply) must not lose the pending counts the landed save absorbed.
 */
import { describe, expect, it } from "vitest";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { createBootstrapStore, freshCheckpoint } from "./helpers.ts";

const fresh = freshCheckpoint("work");

describe("bootstrap checkpoint save retried after a lost reply", () => {
  it("keeps the pending counts the landed save absorbed", async () => {
    const target = await createBootstrapStore("checkpoint-retry", "standalone");
    try {
      const key = checkpointKey(target.store.layout.prefix, { namespace: "test", name: "retry" }, 0);
      const checkpoints = new CheckpointStore(target.client, key, 600);
      const { state } = await checkpoints.begin("work", fresh);
      await checkpoints.addPending("embedded", 5);
      state.units.p0!.position = 4;
      // The save lands and absorbs the pending 5, but its reply is lost: the shard's state never sees it.
      await checkpoints.save(structuredClone(state));
      // ridingOutage retries the same save with the same in-memory state.
      await checkpoints.save(state);
      expect((await checkpoints.load())?.counts.embedded).toBe(5);
      expect(state.counts.embedded).toBe(5);
    } finally {
      await target.drop();
    }
  });

  it("adds what became pending between the landed save and its retry, and resumes with the total", async () => {
    const target = await createBootstrapStore("checkpoint-retry-more", "standalone");
    try {
      const key = checkpointKey(target.store.layout.prefix, { namespace: "test", name: "retry" }, 0);
      const checkpoints = new CheckpointStore(target.client, key, 600);
      const { state } = await checkpoints.begin("work", fresh);
      await checkpoints.addPending("embedded", 5);
      state.counts.processed = 4;
      await checkpoints.save(structuredClone(state));
      await checkpoints.addPending("embedded", 2);
      await checkpoints.save(state);
      expect(state.counts).toMatchObject({ embedded: 7, processed: 4 });
      expect((await checkpoints.load())?.counts).toMatchObject({ embedded: 7, processed: 4 });
      await checkpoints.addPending("embedded", 3);
      const resumed = await checkpoints.begin("work", fresh);
      expect(resumed.resumed).toBe(true);
      expect(resumed.state.counts.embedded).toBe(10);
      // Other work starts from zero: the stored count is replaced, its pending counts dropped.
      await checkpoints.addPending("embedded", 4);
      const other = await checkpoints.begin("other", () => ({ ...fresh(), fingerprint: "other" }));
      expect(other.state.counts.embedded).toBe(0);
      expect((await checkpoints.load())?.counts.embedded).toBe(0);
    } finally {
      await target.drop();
    }
  });
});
