/**
 * Shard checkpoints in real Redis (standalone and Cluster): a newer attempt fences off an older pod of
 * the same shard, a checkpoint of different work is replaced rather than resumed, every save refreshes
 * the expiry, and the operator reads all shards of a run in one round trip and deletes them, pending
 * counts included.
 */
import { describe, expect, it } from "vitest";
import {
  CheckpointStore,
  checkpointKey,
  deleteRunCheckpoints,
  readRunCheckpoints,
} from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { createBootstrapStore, freshCheckpoint } from "./helpers.ts";

const fresh = freshCheckpoint;

describe.each(["standalone", "cluster"] as const)("bootstrap checkpoints (%s Redis)", (deployment) => {
  it("fences off an older attempt and resumes only the same work", async () => {
    const target = await createBootstrapStore("checkpoint", deployment);
    const run = { namespace: "test", name: "fence" };
    try {
      const key = checkpointKey(target.store.layout.prefix, run, 1);
      expect(key).toBe(`{${target.store.layout.prefix}:bootstrap:test/fence}:1`);
      const oldPod = new CheckpointStore(target.client, key, 600);
      const newPod = new CheckpointStore(target.client, key, 600);

      const first = await oldPod.begin("work-a", fresh("work-a"));
      expect(first).toMatchObject({ resumed: false, state: { attempt: 1, phase: "running" } });
      first.state.units.p0!.position = 4;
      first.state.counts.written = 4;
      await oldPod.save(first.state);

      const second = await newPod.begin("work-a", fresh("work-a"));
      expect(second).toMatchObject({ resumed: true, state: { attempt: 2, counts: { written: 4 } } });
      expect(second.state.units.p0!.position).toBe(4);
      await expect(
        oldPod.save({ ...first.state, counts: { ...first.state.counts, written: 9 } }),
      ).rejects.toThrow("another pod runs this shard");
      expect((await newPod.load())?.counts.written).toBe(4);
      const ttl = await target.client.ttl(key);
      expect(ttl).toBeGreaterThan(500);
      expect(ttl).toBeLessThanOrEqual(600);

      // The run was recreated with other work under the same name: start over, keep fencing.
      const other = await newPod.begin("work-b", fresh("work-b"));
      expect(other).toMatchObject({ resumed: false, state: { attempt: 3, fingerprint: "work-b" } });
      expect(other.state.counts.written).toBe(0);
      expect(other.state.units.p0!.position).toBe(0);

      await new CheckpointStore(target.client, checkpointKey(target.store.layout.prefix, run, 0), 600).begin(
        "work-b",
        fresh("work-b"),
      );
      const shards = await readRunCheckpoints(target.client, target.store.layout.prefix, run, 3);
      expect(shards.map((shard) => shard?.attempt ?? null)).toEqual([1, 3, null]);

      // Deleting the run takes every shard's checkpoint and its pending counts.
      await newPod.addPending("embedded", 2);
      expect(await target.client.exists(newPod.pendingKey)).toBe(1);
      await deleteRunCheckpoints(target.client, target.store.layout.prefix, run, 3);
      const left = [0, 1, 2].flatMap((shard) => {
        const shardKey = checkpointKey(target.store.layout.prefix, run, shard);
        return [shardKey, `${shardKey}:pending`];
      });
      expect(await target.client.exists(...left)).toBe(0);
    } finally {
      await target.drop();
    }
  });

  it("reads a checkpoint another run of the same name left as a shard that has not started", async () => {
    const target = await createBootstrapStore("checkpoint-uid", deployment);
    const prefix = target.store.layout.prefix;
    const run = { namespace: "test", name: "again" };
    try {
      // The first run (uid-1) finished both shards, then was deleted and applied again (uid-2), whose
      // shard 1 has started and shard 0 not yet.
      for (const shard of [0, 1]) {
        const store = new CheckpointStore(target.client, checkpointKey(prefix, run, shard), 600);
        const { state } = await store.begin("work-1", () => ({ ...fresh("work-1")(), runUid: "uid-1" }));
        await store.save({ ...state, phase: "done", counts: { ...state.counts, processed: 10 } });
      }
      await new CheckpointStore(target.client, checkpointKey(prefix, run, 1), 600).begin("work-2", () => ({
        ...fresh("work-2")(),
        runUid: "uid-2",
      }));
      const second = await readRunCheckpoints(target.client, prefix, { ...run, uid: "uid-2" }, 2);
      expect(second.map((shard) => shard?.phase ?? null)).toEqual([null, "running"]);
      const first = await readRunCheckpoints(target.client, prefix, { ...run, uid: "uid-1" }, 2);
      expect(first.map((shard) => shard?.phase ?? null)).toEqual(["done", null]);
      // Without a uid to compare (a caller that has none), every checkpoint is read as it is.
      const any = await readRunCheckpoints(target.client, prefix, run, 2);
      expect(any.map((shard) => shard?.runUid ?? null)).toEqual(["uid-1", "uid-2"]);
    } finally {
      await target.drop();
    }
  });
});
