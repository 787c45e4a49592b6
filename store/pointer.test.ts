import { describe, expect, it } from "vitest";
import { isNewerPointer, parseFlipMessage, pointerFromFields } from "./pointer.ts";

describe("version pointer", () => {
  it("reads an absent pointer as empty", () => {
    expect(pointerFromFields({})).toEqual({ current: null, backup: null, epoch: 0, flippedAtMs: null });
  });

  it("reads current, backup and epoch; empty backup means none", () => {
    expect(pointerFromFields({ current: "B", backup: "A", epoch: "7", flipped_at_ms: "1700" })).toEqual({
      current: "B",
      backup: "A",
      epoch: 7,
      flippedAtMs: 1700,
    });
    expect(pointerFromFields({ current: "A", backup: "", epoch: "1" }).backup).toBeNull();
  });

  it("rejects a corrupt epoch", () => {
    expect(() => pointerFromFields({ current: "A", epoch: "x" })).toThrow(/epoch/);
    // Number() takes these; a hand edit is not what HINCRBY or the flip script writes.
    for (const epoch of ["", "0x10", "1e3", "-1", " 7", "2.5"])
      expect(() => pointerFromFields({ current: "A", epoch }), epoch).toThrow(/epoch/);
    expect(pointerFromFields({ current: "A", epoch: "1796369791631" }).epoch).toBe(1796369791631);
  });

  it("rejects a pointer whose current or backup cannot be a version (edited by hand)", () => {
    expect(() => pointerFromFields({ current: "bad name!", backup: "A", epoch: "9" })).toThrow(
      expect.objectContaining({
        code: "CORRUPT_RECORD",
        message: expect.stringMatching(/current "bad name!"/),
      }),
    );
    expect(() => pointerFromFields({ current: "B", backup: "A:1", epoch: "9" })).toThrow(
      expect.objectContaining({ code: "CORRUPT_RECORD", message: expect.stringMatching(/backup "A:1"/) }),
    );
  });

  it("parses flip notifications and ignores anything else", () => {
    expect(parseFlipMessage('{"epoch":3,"current":"B","backup":"A","kind":"flip"}')).toEqual({
      current: "B",
      backup: "A",
      epoch: 3,
      flippedAtMs: null,
    });
    expect(parseFlipMessage("not json")).toBeNull();
    expect(parseFlipMessage('{"epoch":"3","current":"B"}')).toBeNull();
    expect(parseFlipMessage('{"epoch":3,"current":""}')).toBeNull();
    expect(parseFlipMessage('{"epoch":9,"current":"bad name!"}')).toBeNull();
    expect(parseFlipMessage('{"epoch":9,"current":"B","backup":"A}:x"}')).toBeNull();
  });

  it("only moves forward in epochs", () => {
    const at = (epoch: number) => ({ current: "X", backup: null, epoch, flippedAtMs: null });
    expect(isNewerPointer(at(2), at(1))).toBe(true);
    expect(isNewerPointer(at(1), at(1))).toBe(false);
    expect(isNewerPointer(at(1), at(2))).toBe(false);
  });
});
