import { describe, expect, it } from "vitest";
import {
  conditionSays,
  conditionTime,
  findCondition,
  kstatusConditions,
  setConditions,
} from "./conditions.ts";

const t0 = new Date("2026-01-01T00:00:00.123Z");
const t1 = new Date("2026-01-01T00:05:00.000Z");

describe("conditions", () => {
  it("cuts a message to the 32768 characters the CRDs accept, saying so, so the status can still be written", () => {
    const long = `${"x".repeat(40_000)}`;
    const [condition] = setConditions(
      undefined,
      [{ type: "Ready", status: "False", reason: "FailedCreate", message: long }],
      1,
      t0,
    );
    expect(condition!.message.length).toBeLessThanOrEqual(32_768);
    expect(condition!.message.startsWith("x".repeat(30_000))).toBe(true);
    expect(condition!.message.endsWith("… (cut)")).toBe(true);
    const short = setConditions(
      undefined,
      [{ type: "Ready", status: "True", reason: "R", message: "m" }],
      1,
      t0,
    );
    expect(short[0]!.message).toBe("m");
  });

  it("never cuts a character in two: the cut message survives the API server's UTF-8 and reads as said", () => {
    // 32761 UTF-16 units before the cut note: an odd count, the middle of an emoji's surrogate pair.
    const long = "😀".repeat(20_000);
    const [condition] = setConditions(
      undefined,
      [{ type: "Ready", status: "False", reason: "R", message: long }],
      1,
      t0,
    );
    const stored = new TextDecoder().decode(new TextEncoder().encode(condition!.message));
    expect(stored).toBe(condition!.message);
    expect(condition!.message.endsWith("😀… (cut)")).toBe(true);
    expect(conditionSays({ reason: "R", message: stored }, "R", long)).toBe(true);
  });

  it("formats times as RFC 3339 seconds", () => {
    expect(conditionTime(t0)).toBe("2026-01-01T00:00:00Z");
  });

  it("keeps lastTransitionTime while the status stays, changes it on a transition", () => {
    const first = setConditions(
      undefined,
      [{ type: "Ready", status: "False", reason: "Deploying", message: "0/2" }],
      1,
      t0,
    );
    const same = setConditions(
      first,
      [{ type: "Ready", status: "False", reason: "Deploying", message: "1/2" }],
      2,
      t1,
    );
    expect(same).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Deploying",
        message: "1/2",
        observedGeneration: 2,
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ]);
    const flipped = setConditions(
      same,
      [{ type: "Ready", status: "True", reason: "Ready", message: "2/2" }],
      2,
      t1,
    );
    expect(findCondition(flipped, "Ready")?.lastTransitionTime).toBe("2026-01-01T00:05:00Z");
  });

  it("replaces in place, appends new types and keeps the others", () => {
    const start = setConditions(
      undefined,
      [
        { type: "Ready", status: "False", reason: "A", message: "" },
        { type: "Promoted", status: "True", reason: "B", message: "" },
      ],
      1,
      t0,
    );
    const next = setConditions(
      start,
      [
        { type: "Stalled", status: "False", reason: "C", message: "" },
        { type: "Ready", status: "True", reason: "D", message: "" },
      ],
      1,
      t1,
    );
    expect(next.map((c) => [c.type, c.status])).toEqual([
      ["Ready", "True"],
      ["Promoted", "True"],
      ["Stalled", "False"],
    ]);
  });

  it("sets exactly one of the kstatus trio True", () => {
    for (const state of ["Ready", "Reconciling", "Stalled"] as const) {
      const trio = kstatusConditions({ state, reason: "Why", message: "because" });
      expect(trio.filter((c) => c.status === "True").map((c) => c.type)).toEqual([state]);
      expect(trio.map((c) => c.type)).toEqual(["Ready", "Reconciling", "Stalled"]);
    }
  });
});
