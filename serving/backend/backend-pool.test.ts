import { describe, expect, it } from "vitest";
import { ControlledBackend } from "../../test/support/serving/controlled-backend.ts";
import { BackendPool } from "./backend-pool.ts";

const tokens = (count: number) => new Int32Array(count).fill(7);

describe("BackendPool", () => {
  it("sends each batch to the member with the fewest batches in flight", async () => {
    const members = [new ControlledBackend(), new ControlledBackend()];
    const pool = new BackendPool(members);
    expect(pool.parallelism).toBe(2);
    const first = pool.embed([tokens(1)]);
    const second = pool.embed([tokens(2)]);
    expect(members.map((member) => member.running)).toEqual([1, 1]);
    members[0]!.complete();
    expect((await first)[0]).toBe(1);
    const third = pool.embed([tokens(3)]);
    expect(members.map((member) => member.running)).toEqual([1, 1]);
    expect(members[0]!.batches[1]?.[0]?.length).toBe(3);
    members[1]!.complete();
    members[0]!.complete();
    expect([(await second)[0], (await third)[0]]).toEqual([2, 3]);
  });

  it("frees a member whose batch failed", async () => {
    const members = [new ControlledBackend(), new ControlledBackend()];
    const pool = new BackendPool(members);
    const failing = pool.embed([tokens(1)]);
    members[0]!.fail(new Error("boom"));
    await expect(failing).rejects.toThrow("boom");
    void pool.embed([tokens(2)]);
    expect(members[0]!.running).toBe(1);
    members[0]!.complete();
  });

  it("sends no batch to a member whose worker died while another lives, and fails with the last", async () => {
    const dead = {
      dimensions: 4,
      executionProvider: "test",
      failed: true,
      embed: () => Promise.reject(new Error("inference worker exited with code 1")),
      close: async () => {},
    };
    const live = new ControlledBackend();
    const pool = new BackendPool([dead, live]);
    expect([pool.failed, pool.parallelism]).toEqual([false, 1]);
    const answered = pool.embed([tokens(1)]);
    expect(live.running).toBe(1);
    live.complete();
    expect((await answered)[0]).toBe(1);
    expect(pool.inferenceWorkers).toEqual({ live: 1, dead: 1 });
    const lastStanding = new BackendPool([dead, dead]);
    expect(lastStanding.inferenceWorkers).toEqual({ live: 0, dead: 2 });
    expect(lastStanding.failed).toBe(true);
    await expect(lastStanding.embed([tokens(1)])).rejects.toThrow("exited with code 1");
  });

  it("counts the inference workers of members that count their own", () => {
    const counted = (live: number, dead: number) => ({
      dimensions: 4,
      executionProvider: "test",
      inferenceWorkers: { live, dead },
      embed: () => Promise.reject(new Error("unused")),
      close: async () => {},
    });
    expect(new BackendPool([counted(1, 0), counted(0, 1), counted(0, 0)]).inferenceWorkers).toEqual({
      live: 1,
      dead: 1,
    });
  });

  it("refuses to be empty", () => {
    expect(() => new BackendPool([])).toThrow("at least one member");
  });
});
