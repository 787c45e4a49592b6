import { describe, expect, it } from "vitest";
import {
  backoffDelayMs,
  defaultRetryMaxDelayMs,
  ExponentialBackoff,
  RetryRateLimiter,
  TokenBucket,
} from "./rate-limiter.ts";

describe("per-key exponential back-off", () => {
  it("starts at 5 ms and doubles per failure", () => {
    const backoff = new ExponentialBackoff();
    expect([1, 2, 3, 4, 5].map(() => backoff.next("ns/a"))).toEqual([5, 10, 20, 40, 80]);
    expect(backoff.failures("ns/a")).toBe(5);
  });

  it("caps at a minute by default, so a dependency that comes back is retried within it", () => {
    const backoff = new ExponentialBackoff();
    const delays = Array.from({ length: 40 }, () => backoff.next("ns/a"));
    // 5 ms doubling: 13 failures (about 41 s of outage) reach 40.96 s; every later retry waits 60 s.
    expect(delays.slice(10, 15)).toEqual([5_120, 10_240, 20_480, 40_960, 60_000]);
    expect(delays.slice(14).every((delay) => delay === defaultRetryMaxDelayMs)).toBe(true);
    expect(defaultRetryMaxDelayMs).toBe(60_000);
  });

  it("takes client-go's 1000 s cap, or any other, when configured", () => {
    const backoff = new ExponentialBackoff({ maxMs: 1_000_000 });
    const delays = Array.from({ length: 30 }, () => backoff.next("ns/a"));
    expect(delays[17]).toBe(655_360);
    expect(Math.max(...delays)).toBe(1_000_000);
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

describe("backoffDelayMs, the doubling both back-offs use", () => {
  it("doubles from the first delay per earlier failure, up to the cap", () => {
    // The controller's wait for a namespace's informers: 10 s doubling to 5 minutes.
    const delays = [0, 1, 2, 3, 4, 5, 6, 100].map((failures) => backoffDelayMs(failures, 10_000, 300_000));
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it("is what ExponentialBackoff waits after each failure", () => {
    const backoff = new ExponentialBackoff({ baseMs: 7, maxMs: 1_000 });
    const delays = Array.from({ length: 12 }, () => backoff.next("ns/a"));
    expect(delays).toEqual(delays.map((_, failures) => backoffDelayMs(failures, 7, 1_000)));
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

  it("takes a clock that went back as no time passed, not as a debt of tokens", () => {
    const bucket = new TokenBucket({ qps: 10, burst: 2 });
    bucket.reserve(3_600_000);
    expect(bucket.reserve(0)).toBe(0);
    expect(bucket.reserve(0)).toBe(100);
  });
});

describe("retry rate limiter", () => {
  it("waits for the longer of the key's back-off and the bucket", () => {
    const limiter = new RetryRateLimiter({ qps: 1, burst: 1 });
    expect(limiter.when("ns/a", 0)).toBe(5);
    // The bucket is empty now: a different key's first retry waits for the bucket, not 5 ms.
    expect(limiter.when("ns/b", 0)).toBe(1000);
  });

  it("caps a key's streak at maxDelayMs and starts over after a success", () => {
    const limiter = new RetryRateLimiter({ maxDelayMs: 2_000 });
    let nowMs = 0;
    const delays = Array.from({ length: 12 }, () => {
      const delay = limiter.when("ns/a", nowMs);
      nowMs += delay;
      return delay;
    });
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1_280, 2_000, 2_000, 2_000]);
    limiter.forget("ns/a");
    expect(limiter.when("ns/a", nowMs)).toBe(5);
  });

  it("defaults to the one-minute cap", () => {
    const limiter = new RetryRateLimiter();
    let last = 0;
    for (let failure = 0; failure < 30; failure += 1) last = limiter.when("ns/a", failure * 60_000);
    expect(last).toBe(60_000);
  });
});
