import { describe, expect, it } from "vitest";
import { splitShortFlagValues } from "./flags.ts";

describe("kubectl jude's command line", () => {
  it("reads -n=NS and -o=json as kubectl does, the value after the '='", () => {
    // node:util parseArgs took `-n=recs` as the namespace "=recs": `status -n=recs` printed "No
    // EmbeddingModels found in namespace =recs." and exited 0 where kubectl lists namespace recs.
    expect(splitShortFlagValues(["status", "-n=recs", "-o=json"])).toEqual([
      "status",
      "-n",
      "recs",
      "-o",
      "json",
    ]);
    // Long flags, values after a separate word, and everything after `--` are left alone.
    expect(splitShortFlagValues(["status", "--namespace=recs", "-n", "=x", "--", "-n=y"])).toEqual([
      "status",
      "--namespace=recs",
      "-n",
      "=x",
      "--",
      "-n=y",
    ]);
    // A boolean short flag has no value to split: -A=true stays a usage error, as parseArgs says.
    expect(splitShortFlagValues(["status", "-A=true"])).toEqual(["status", "-A=true"]);
  });
});
