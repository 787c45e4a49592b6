import { describe, expect, it } from "vitest";
import { describeShardRetries, shardRetries, type ShardPodView } from "./shard-retries.ts";

/** A shard pod that ended (phase Failed) with its bootstrap container's exit code. */
function endedShard(name: string, exitCode: number, finishedAt: string): ShardPodView {
  return {
    metadata: { name },
    status: {
      phase: "Failed",
      containerStatuses: [
        {
          name: "bootstrap",
          image: "",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, reason: "Error", finishedAt: new Date(finishedAt) } },
        },
      ],
    },
  };
}

describe("shardRetries", () => {
  it("does not count a shard interrupted by hand (exit code 75) as failed, but names it", () => {
    // The Job's podFailurePolicy ignores exit code 75: saying "1 of spec.backoffLimit" would be false.
    const retries = shardRetries([endedShard("run-bootstrap-0-aaaaa", 75, "2026-12-04T10:00:00Z")]);
    expect(retries).toEqual({ failed: 0, interrupted: { pods: 1, lastPod: "run-bootstrap-0-aaaaa" } });
    expect(describeShardRetries(retries!, 6)).toBe(
      "pod run-bootstrap-0-aaaaa was interrupted (exit code 75: stopped, e.g. deleted; it resumes from its last saved checkpoint); the Job replaced it (an interruption is not counted against spec.backoffLimit)",
    );
  });

  it("counts failures and interruptions apart, naming the last failure's exit", () => {
    const retries = shardRetries([
      endedShard("run-bootstrap-0-aaaaa", 75, "2026-12-04T10:00:00Z"),
      endedShard("run-bootstrap-0-bbbbb", 75, "2026-12-04T10:01:00Z"),
      endedShard("run-bootstrap-1-ccccc", 1, "2026-12-04T10:00:30Z"),
    ]);
    expect(describeShardRetries(retries!, 6)).toBe(
      "1 shard pod failed and was retried (1 of spec.backoffLimit 6); last: pod run-bootstrap-1-ccccc, container bootstrap: Error, exit code 1; " +
        "2 shard pods were interrupted, last run-bootstrap-0-bbbbb (exit code 75: stopped, e.g. deleted; it resumes from its last saved checkpoint); the Job replaced them (an interruption is not counted against spec.backoffLimit)",
    );
  });
});
