/**
 * A checkpoint save retried after its reply was lost (the save landed: ridingOutage retries it through
 * a store outage, link mode after-reply) must not lose the pending counts the landed save absorbed;
 * a begin retried so reports the start it was (fresh or resumed), not its own landed write as a resume.
 */
import { describe, expect, it } from "vitest";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import type { RedisClient } from "../../../store/index.ts";
import { createBootstrapStore, freshCheckpoint } from "./helpers.ts";

const fresh = freshCheckpoint("work");

/** `client` whose next EVAL (a checkpoint write) lands and then loses its reply, as a dropped connection does. */
function losingNextReply(client: RedisClient): RedisClient {
  let lost = false;
  return new Proxy(client, {
    get(target, property) {
      if (property === "eval" && !lost) {
        return async (...args: Parameters<RedisClient["eval"]>) => {
          lost = true;
          await (target.eval as (...all: unknown[]) => Promise<unknown>)(...args);
          throw new Error("Connection is closed.");
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...all: unknown[]) => unknown).bind(target) : value;
    },
  });
}

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

  it("reports a begin retried after its reply was lost as the start it was", async () => {
    const target = await createBootstrapStore("begin-retry", "standalone");
    try {
      const key = checkpointKey(target.store.layout.prefix, { namespace: "test", name: "begin" }, 0);
      // A fresh start whose begin lands but whose reply is lost; ridingOutage begins again.
      const lossy = new CheckpointStore(losingNextReply(target.client), key, 600);
      await expect(lossy.begin("work", fresh)).rejects.toThrow(/Connection is closed/);
      const retried = await lossy.begin("work", fresh);
      expect(retried.resumed).toBe(false);
      // It still takes an attempt of its own (the one the lost begin took could be another pod's).
      expect(retried.state.attempt).toBe(2);
      expect((await lossy.load())?.attempt).toBe(2);
      retried.state.units.p0!.position = 4;
      await lossy.save(retried.state);

      // The next pod resumes that progress, also when its begin's reply is lost.
      const next = new CheckpointStore(losingNextReply(target.client), key, 600);
      await expect(next.begin("work", fresh)).rejects.toThrow(/Connection is closed/);
      const resumed = await next.begin("work", fresh);
      expect(resumed.resumed).toBe(true);
      expect(resumed.state).toMatchObject({ attempt: 4, units: { p0: { position: 4 } } });
    } finally {
      await target.drop();
    }
  });
});
