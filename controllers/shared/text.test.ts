import { describe, expect, it } from "vitest";
import { headOf } from "./text.ts";

describe("headOf", () => {
  it("cuts at the length, or before a surrogate pair the length would split", () => {
    expect(headOf("abcdef", 3)).toBe("abc");
    expect(headOf("ab😀c", 3)).toBe("ab");
    expect(headOf("ab😀c", 4)).toBe("ab😀");
    expect(headOf("ab😀", 10)).toBe("ab😀");
    expect(headOf("abc", 0)).toBe("");
    expect(headOf("abc", -2)).toBe("");
  });
});
