import { describe, expect, it } from "vitest";
import { StoreError, isStoreOutage, isTransientRedisError, toStoreError } from "./errors.ts";

function replyError(message: string): Error {
  const error = new Error(message);
  error.name = "ReplyError";
  return error;
}

describe("store errors", () => {
  it.each([
    ["a lost connection", new Error("Connection is closed.")],
    [
      "a refused connection",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    ],
    ["a Redis loading its AOF", replyError("LOADING Redis is loading the dataset in memory")],
    ["a cluster without quorum", replyError("CLUSTERDOWN The cluster is down")],
    ["a slot that moved", replyError("MOVED 8858 127.0.0.1:7001")],
    ["a slot being migrated", replyError("ASK 8858 127.0.0.1:7001")],
    [
      "a cluster down for longer than ioredis follows it",
      new Error("Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down"),
    ],
    [
      "a server at its memory limit",
      replyError("OOM command not allowed when used memory > 'maxmemory'. script: 40f6, on @user_script:22."),
    ],
    [
      "a primary short of the replicas min-replicas-to-write asks for",
      replyError("NOREPLICAS Not enough good replicas to write. script: 6cdf, on @user_script:27."),
    ],
    [
      "a server whose last snapshot failed (stop-writes-on-bgsave-error)",
      replyError(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
      ),
    ],
    [
      "a transaction discarded because Redis refused a queued command with OOM",
      Object.assign(replyError("EXECABORT Transaction discarded because of previous errors."), {
        previousErrors: [replyError("OOM command not allowed when used memory > 'maxmemory'.")],
      }),
    ],
    [
      "exhausted ioredis retries",
      Object.assign(new Error("Reached the max retries"), { name: "MaxRetriesPerRequestError" }),
    ],
  ])("treats %s as STORE_UNAVAILABLE (retryable) and keeps the cause", (_name, cause) => {
    expect(isTransientRedisError(cause)).toBe(true);
    const error = toStoreError(cause, "write");
    expect(error.code).toBe("STORE_UNAVAILABLE");
    expect(error.retryable).toBe(true);
    expect(error.cause).toBe(cause);
  });

  it("treats script and type errors as INTERNAL, not retryable", () => {
    const cause = replyError("WRONGTYPE Operation against a key holding the wrong kind of value");
    const error = toStoreError(cause, "read");
    expect(error.code).toBe("INTERNAL");
    expect(error.retryable).toBe(false);
  });

  it("treats a transaction discarded over a queued command's own mistake as INTERNAL", () => {
    const cause = Object.assign(replyError("EXECABORT Transaction discarded because of previous errors."), {
      previousErrors: [replyError("ERR wrong number of arguments for 'hincrby' command")],
    });
    expect(isTransientRedisError(cause)).toBe(false);
  });

  it("passes StoreErrors through unchanged", () => {
    const original = new StoreError("PRECONDITION_FAILED", "current moved");
    expect(toStoreError(original, "flip")).toBe(original);
  });

  it("takes an unavailable store, wrapped or not, as an outage, and nothing else", () => {
    expect(isStoreOutage(new StoreError("STORE_UNAVAILABLE", "read: Redis unavailable"))).toBe(true);
    expect(isStoreOutage(new Error("Connection is closed."))).toBe(true);
    expect(isStoreOutage(new StoreError("PRECONDITION_FAILED", "current moved"))).toBe(false);
    expect(isStoreOutage(replyError("WRONGPASS invalid username-password pair"))).toBe(false);
  });
});
