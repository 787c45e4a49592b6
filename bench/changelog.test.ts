import { describe, expect, it } from "vitest";
import { generateChangelog } from "./changelog.ts";

describe("generateChangelog", () => {
  it("creates every key before updating it and injects exactly the requested no-op share", () => {
    const events = generateChangelog({ events: 3000, keys: 600, noopShare: 2 / 3 });
    expect(events).toHaveLength(3000);
    expect(events.filter((event) => event.noop)).toHaveLength(2000);
    const seen = new Set<string>();
    let creates = 0;
    for (const event of events) {
      if (!seen.has(event.key)) {
        expect(event.noop).toBe(false);
        creates++;
      }
      seen.add(event.key);
    }
    expect(creates).toBe(600);
  });

  it("is deterministic for a seed", () => {
    const a = generateChangelog({ events: 500, keys: 100, noopShare: 0.5, seed: 7 });
    const b = generateChangelog({ events: 500, keys: 100, noopShare: 0.5, seed: 7 });
    expect(a).toEqual(b);
  });
});
