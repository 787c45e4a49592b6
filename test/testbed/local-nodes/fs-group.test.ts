import { describe, expect, it } from "vitest";
import { fsGroupMode } from "./fs-group.ts";

describe("fsGroup modes", () => {
  it("makes Secret files group-readable without widening them to others", () => {
    expect(fsGroupMode(0o100400, false, true)).toBe(0o440);
    expect(fsGroupMode(0o100644, false, true)).toBe(0o644);
  });

  it("makes writable volumes group-writable and folders setgid and searchable", () => {
    expect(fsGroupMode(0o100600, false, false)).toBe(0o660);
    expect(fsGroupMode(0o40755, true, true)).toBe(0o2755);
    expect(fsGroupMode(0o40700, true, false)).toBe(0o2770);
  });
});
