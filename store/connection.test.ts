import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { connectRedis, parseClusterNodes } from "./connection.ts";
import { isStoreError } from "./errors.ts";

/** What a process's log line would hold for `error` (pino's standard error serializer). */
function logged(error: unknown): string {
  return JSON.stringify(pino.stdSerializers.err(error as Error));
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("connectRedis", () => {
  it("refuses a URL that does not parse without quoting it (the password is in it)", () => {
    // An unencoded '#' in the password is the usual way to get here; Node's URL error carries the whole
    // input in a property that pino logs.
    const error = thrownBy(() => connectRedis({ url: "redis://admin:S3c#ret@redis.data.svc:6379" }));
    expect(isStoreError(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toMatch(/not a valid redis:\/\/ or rediss:\/\/ URL.*percent-encode/);
    expect(logged(error)).not.toContain("S3c");
    expect(logged(error)).not.toContain("admin");
  });
});

describe("parseClusterNodes", () => {
  it("names a malformed seed node without the credentials a URL put in it", () => {
    const error = thrownBy(() => parseClusterNodes("redis://admin:S3cret@10.0.0.1:6379"));
    expect((error as Error).message).toContain("is not host:port");
    expect(logged(error)).not.toContain("S3cret");
  });

  it("still quotes a plain typo so it can be found", () => {
    expect(() => parseClusterNodes("10.0.0.1:6379,10.0.0.2")).toThrow(/"10\.0\.0\.2" is not host:port/);
  });
});
