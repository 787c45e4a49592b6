import { describe, expect, it } from "vitest";
import { ExponentialBackoff, RetryRateLimiter, TokenBucket } from "./rate-limiter.ts";

describe("per-key exponential back-off", () => {
  it("starts at 5 ms and doubles per failure", () => {
    const backoff = new ExponentialBackoff();
    expect([1, 2, 3, 4, 5].map(() => backoff.next("ns/a"))).toEqual([5, 10, 20, 40, 80]);
    expect(backoff.failures("ns/a")).toBe(5);
  });

  it("caps at about 16 minutes", () => {
    const backoff = new ExponentialBackoff();
    const delays = Array.from({ length: 30 }, () => backoff.next("ns/a"));
    expect(delays.at(-1)).toBe(1_000_000);
    expect(Math.max(...delays)).toBe(1_000_000);
    expect(delays[17]).toBe(655_360);
  });

  it("keeps keys apart and forgets a key after success", () => {
    const backoff = new ExponentialBackoff();
    backoff.next("ns/a");
    backoff.next("ns/a");
    expect(backoff.next("ns/b")).toBe(5);
    backoff.forget("ns/a");
    expect(backoff.failures("ns/a")).toBe(0);
    expect(backoff.next("ns/a")).toBe(5);
  });
});

describe("overall token bucket", () => {
  it("lets a burst through, then spaces requests at qps", () => {
    const bucket = new TokenBucket({ qps: 10, burst: 3 });
    expect([bucket.reserve(0), bucket.reserve(0), bucket.reserve(0)]).toEqual([0, 0, 0]);
    expect(bucket.reserve(0)).toBe(100);
    expect(bucket.reserve(0)).toBe(200);
  });

  it("refills with time, up to the burst", () => {
    const bucket = new TokenBucket({ qps: 10, burst: 2 });
    bucket.reserve(0);
    bucket.reserve(0);
    expect(bucket.reserve(1_000_000)).toBe(0);
    expect(bucket.reserve(1_000_000)).toBe(0);
    expect(bucket.reserve(1_000_000)).toBe(100);
  });
});

describe("retry rate limiter", () => {
  it("waits for the longer of the key's back-off and the bucket", () => {
    const limiter = new RetryRateLimiter({ qps: 1, burst: 1 });
    expect(limiter.when("ns/a", 0)).toBe(5);
    // The bucket is empty now: a different key's first retry waits for the bucket, not 5 ms.
    expect(limiter.when("ns/b", 0)).toBe(1000);
  });
});
