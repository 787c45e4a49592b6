import { describe, expect, it } from "vitest";
import { backoffDelayMs, retry, withinDeadline } from "./retry.ts";

describe("retry backoff", () => {
  const policy = { deadlineMs: 10_000, initialDelayMs: 100, maxDelayMs: 1_000 };

  it("doubles per attempt between half and all of the ceiling", () => {
    expect(backoffDelayMs(policy, 1, () => 0)).toBe(50);
    expect(backoffDelayMs(policy, 1, () => 1)).toBe(100);
    expect(backoffDelayMs(policy, 3, () => 1)).toBe(400);
  });

  it("never exceeds the cap", () => {
    expect(backoffDelayMs(policy, 30, () => 1)).toBe(1_000);
    expect(backoffDelayMs(policy, 10_000, () => 1)).toBe(1_000);
  });

  it("has no deadline unless the policy sets one", () => {
    expect(withinDeadline({ initialDelayMs: 1, maxDelayMs: 1 }, 0, Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(withinDeadline(policy, 0, 9_999)).toBe(true);
    expect(withinDeadline(policy, 0, 10_000)).toBe(false);
  });
});

describe("retry", () => {
  const fast = { initialDelayMs: 1, maxDelayMs: 2 };
  const transient = new Error("transient");
  /** An attempt that always throws `error`, counting its calls. */
  const failing = (error: Error) => {
    const attempt = async (): Promise<never> => {
      attempt.calls++;
      throw error;
    };
    attempt.calls = 0;
    return attempt;
  };

  it("retries retryable errors until the attempt succeeds, reporting each", async () => {
    let calls = 0;
    const reported: number[] = [];
    const result = await retry(
      async () => {
        if (++calls < 3) throw transient;
        return "done";
      },
      {
        isRetryable: (error) => error === transient,
        onRetry: (_, attempt) => reported.push(attempt),
        policy: fast,
      },
    );
    expect(result).toBe("done");
    expect(reported).toEqual([1, 2]);
  });

  it("throws a non-retryable error at once", async () => {
    const fatal = new Error("fatal");
    const attempt = failing(fatal);
    await expect(retry(attempt, { isRetryable: (error) => error === transient, policy: fast })).rejects.toBe(
      fatal,
    );
    expect(attempt.calls).toBe(1);
  });

  it("gives up with the last error after the deadline", async () => {
    const attempt = failing(transient);
    await expect(
      retry(attempt, { isRetryable: () => true, policy: { ...fast, deadlineMs: 20 } }),
    ).rejects.toBe(transient);
    expect(attempt.calls).toBeGreaterThan(1);
  });

  it("runs the first attempt even when already aborted, but no retry", async () => {
    const abort = new AbortController();
    abort.abort(new Error("stopping"));
    const attempt = failing(transient);
    await expect(
      retry(attempt, { isRetryable: () => true, signal: abort.signal, policy: fast }),
    ).rejects.toBe(transient);
    expect(attempt.calls).toBe(1);
    expect(await retry(async () => "in hand", { isRetryable: () => true, signal: abort.signal })).toBe(
      "in hand",
    );
  });
});
