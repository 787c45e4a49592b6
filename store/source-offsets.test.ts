import { describe, expect, it } from "vitest";
import { bucketKeys, createLayout } from "./layout.ts";
import { keySlot } from "./slot.ts";
import {
  legacySourceOffsetField,
  parseSourceOffsetReply,
  sourceOffsetField,
  sourceOffsetsKey,
} from "./source-offsets.ts";

describe("source offsets", () => {
  const layout = createLayout("jude:jobs", 1024);

  it("live in a versioned key in bucket 0's slot, beside the key the durability wait marks", () => {
    expect(sourceOffsetsKey(layout, "B")).toBe("{jude:jobs:0}:v:B:o");
    expect(keySlot(sourceOffsetsKey(layout, "B"))).toBe(keySlot(bucketKeys(layout, "B", 0).stats));
    const source = {
      group: "jude.default.jobs.v2",
      topic: "jobs-changelog",
      topicId: "Hf1lOQ8cQpe8c6o0zWQ5Ew",
    };
    expect(sourceOffsetField(source, 3)).toBe("jude.default.jobs.v2:jobs-changelog:Hf1lOQ8cQpe8c6o0zWQ5Ew:3");
    // The release before wrote `<topic>:<partition>`: never the same field as a new one.
    expect(legacySourceOffsetField("jobs-changelog", 3)).toBe("jobs-changelog:3");
  });

  it("parses the script's replies", () => {
    expect(parseSourceOffsetReply([1])).toEqual({ set: true });
    expect(parseSourceOffsetReply([0, "42"])).toEqual({ set: false, stored: 42n });
    expect(parseSourceOffsetReply([0, ""])).toEqual({ set: false, stored: null });
  });
});
