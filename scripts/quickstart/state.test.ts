import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readQuickstartState, recordInState, writeRemaining } from "./state.ts";

describe("the quickstart's record", () => {
  let previous: string | undefined;
  beforeEach(() => {
    previous = process.env.JUDE_QUICKSTART_STATE_DIR;
    process.env.JUDE_QUICKSTART_STATE_DIR = mkdtempSync(join(tmpdir(), "quickstart-state-"));
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.JUDE_QUICKSTART_STATE_DIR;
    else process.env.JUDE_QUICKSTART_STATE_DIR = previous;
  });

  it("is absent until something is recorded, and gone after writeRemaining(undefined)", () => {
    expect(readQuickstartState()).toBeUndefined();
    recordInState({ stores: ["quickstart-a"] });
    expect(readQuickstartState()).toMatchObject({ started: [], namespaces: [], stores: ["quickstart-a"] });
    writeRemaining(undefined);
    expect(readQuickstartState()).toBeUndefined();
  });

  it("merges runs: lists are unions, and a namespace the quickstart created once stays its to delete", () => {
    const operator = { release: "jude-operator", namespace: "jude-system" };
    recordInState({
      started: ["kafka"],
      namespaces: ["qs"],
      operator: { ...operator, namespaceCreated: true },
    });
    recordInState({ topics: ["t1", "t1.dlq"], consumerGroups: ["g1"], stores: ["s1"] });
    // A second up finds the namespace it created the first time.
    recordInState({ namespaces: ["qs"], operator: { ...operator, namespaceCreated: false } });
    recordInState({ topics: ["t2"], stores: ["s2"] });
    expect(readQuickstartState()).toEqual({
      started: ["kafka"],
      namespaces: ["qs"],
      operator: { ...operator, namespaceCreated: true },
      topics: ["t1", "t1.dlq", "t2"],
      consumerGroups: ["g1"],
      stores: ["s1", "s2"],
    });
  });
});
