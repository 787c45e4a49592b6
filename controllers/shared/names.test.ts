import { describe, expect, it } from "vitest";
import {
  bootstrapJobName,
  childName,
  consumerGroup,
  labelValue,
  nearlineWorkerName,
  servingName,
} from "./names.ts";

describe("child names", () => {
  it("joins parts into a label", () => {
    expect(servingName("jude-minilm", "minilm-v1")).toBe("jude-minilm-minilm-v1");
    expect(nearlineWorkerName("jobs", "v2")).toBe("jobs-v2-nearline");
    expect(consumerGroup("recs", "jobs", "v2")).toBe("jude.recs.jobs.v2");
  });

  it("keeps long names valid and distinct", () => {
    const a = childName("a".repeat(60), "version-one");
    const b = childName("a".repeat(60), "version-two");
    expect(a).toHaveLength(63);
    expect(a).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
  });

  it("leaves an Indexed Job room for its pods' <job>-<index> names", () => {
    expect(bootstrapJobName("jobs-minilm-v1", 4)).toBe("jobs-minilm-v1-bootstrap");
    for (const shards of [1, 10, 11, 101, 256]) {
      const job = bootstrapJobName(`jobs-${"x".repeat(60)}`, shards);
      expect(`${job}-${shards - 1}`.length).toBe(63);
      expect(job).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
    // A name that fit before this rule keeps its Job (parallelism is immutable).
    const fits = `${"r".repeat(51)}-bootstrap`;
    expect(bootstrapJobName("r".repeat(51), 2)).toBe(fits);
  });

  it("starts Service names with a letter", () => {
    expect(childName("1model", "v1")).toBe("j-1model-v1");
  });

  it("shortens label values over 63 characters", () => {
    expect(labelValue("short")).toBe("short");
    const long = labelValue(`${"x".repeat(70)}.example`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/);
  });
});
