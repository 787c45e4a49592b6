import { describe, expect, it } from "vitest";
import { connectRedis } from "./connection.ts";

describe("connectRedis with a store URL", () => {
  // ioredis connects to any scheme (failing later with "Reached the max retries per request limit")
  // and, for a database path that is not a number, sends SELECT NaN whose rejection nobody can catch:
  // the process dies. The URL comes from a user's Secret, so it is checked before ioredis sees it.
  it.each([
    ["http://127.0.0.1:6379", /scheme "http:" is not redis: or rediss:/],
    ["memcached://cache:11211", /scheme "memcached:" is not redis: or rediss:/],
    ["redis://127.0.0.1:6379/abc", /path "\/abc" is not a database number/],
    ["redis://:s3cret@127.0.0.1:6379/x", /path "\/x" is not a database number/],
    [" redis ://x", /is not a URL/],
    ["", /is not a URL/],
  ])("refuses %j with a clear message", (url, message) => {
    let error: unknown;
    try {
      connectRedis({ url });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(message) });
    expect(String((error as Error).message)).not.toContain("s3cret");
  });

  it.each(["redis://127.0.0.1:1", "rediss://user:pw@redis.example:6380/2", "redis://127.0.0.1:1\n"])(
    "accepts %j",
    (url) => {
      const client = connectRedis({ url }, { maxRetriesPerRequest: 0 });
      client.disconnect();
    },
  );
});
