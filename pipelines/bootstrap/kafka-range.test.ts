import { describe, expect, it } from "vitest";
import { AbortedTransactions } from "./kafka-range.ts";

describe("AbortedTransactions", () => {
  it("covers a producer's batches from an aborted transaction's start until its abort marker", () => {
    const aborted = new AbortedTransactions();
    aborted.add(7n, 10n);
    // The next fetch response lists the same transaction again: still one range.
    aborted.add(7n, 10n);
    expect(aborted.covers(7n, 9n)).toBe(false);
    expect(aborted.covers(7n, 10n)).toBe(true);
    expect(aborted.covers(7n, 500n)).toBe(true);
    expect(aborted.covers(8n, 500n)).toBe(false); // another producer's records are committed
    aborted.close(7n, 600n);
    expect(aborted.covers(7n, 601n)).toBe(false);
  });

  it("closes one transaction per marker when a producer aborted several", () => {
    const aborted = new AbortedTransactions();
    aborted.add(7n, 30n);
    aborted.add(7n, 10n);
    aborted.close(7n, 5n); // a marker before the range (of an earlier transaction): no effect
    expect(aborted.covers(7n, 12n)).toBe(true);
    aborted.close(7n, 20n);
    expect(aborted.covers(7n, 25n)).toBe(false);
    expect(aborted.covers(7n, 31n)).toBe(true);
    aborted.close(7n, 40n);
    expect(aborted.covers(7n, 41n)).toBe(false);
  });
});
