import { describe, expect, it } from "vitest";
import { leadingCommand, splitShortFlagValues } from "./flags.ts";

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

describe("the command among the words before it", () => {
  it("skips each known flag with its value, and takes a boolean flag alone", () => {
    expect(leadingCommand(["-n", "recs", "status"])).toEqual({ command: "status" });
    expect(leadingCommand(["--namespace", "recs", "--context", "dev", "status", "minilm"])).toEqual({
      command: "status",
    });
    expect(leadingCommand(["--namespace=recs", "-o", "json", "status"])).toEqual({ command: "status" });
    // -A takes no value: the word after it is the command.
    expect(leadingCommand(["-A", "status"])).toEqual({ command: "status" });
    expect(leadingCommand(["-A", "stauts"])).toEqual({ command: "stauts" });
    expect(leadingCommand(["-An", "recs", "status"])).toEqual({ command: "status" });
    expect(leadingCommand(["--", "status"])).toEqual({ command: "status" });
    expect(leadingCommand([])).toEqual({});
    expect(leadingCommand(["-n", "recs"])).toEqual({});
  });

  it("stops at a flag it does not know: whether it takes a value, and so which word is the command, cannot be told", () => {
    // `kubectl jude --foo bar status` said `unknown command "bar"`.
    expect(leadingCommand(["--foo", "bar", "status"])).toEqual({ unknownFlag: "--foo" });
    expect(leadingCommand(["--foo=bar", "status"])).toEqual({ unknownFlag: "--foo" });
    expect(leadingCommand(["-n", "recs", "-x", "bar", "status"])).toEqual({ unknownFlag: "-x" });
    expect(leadingCommand(["-Ax", "bar", "status"])).toEqual({ unknownFlag: "-x" });
    // After the command, its flags are the command's to check (parseFlags names its own flags).
    expect(leadingCommand(["status", "--foo", "bar"])).toEqual({ command: "status" });
    expect(leadingCommand(["stauts", "--x"])).toEqual({ command: "stauts" });
  });
});
