import { describe, expect, it } from "vitest";
import { upstreamVersion } from "./debian-packages.ts";

describe("upstreamVersion", () => {
  it("drops the epoch, the Debian revision and the repack suffix", () => {
    expect(upstreamVersion("2.42.0+ds-5+deb12u1")).toBe("2.42.0");
    expect(upstreamVersion("5:7.0.15-1~deb12u10")).toBe("7.0.15");
    expect(upstreamVersion("5.9-4+b15")).toBe("5.9");
    expect(upstreamVersion("1.8.9")).toBe("1.8.9");
  });
});
