import { type AddressInfo, createServer } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { connectRedis, dropConnection, parseClusterNodes, parseClusterTarget } from "./connection.ts";
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
    expect((error as Error).message).toMatch(/not a URL.*percent-encode/);
    expect(logged(error)).not.toContain("S3c");
    expect(logged(error)).not.toContain("admin");
  });
});

describe("parseClusterNodes", () => {
  it.each([
    ["rediss://admin:S3cret@10.0.0.1:6379", /TLS to a Redis Cluster, is not supported/],
    ["redis://admin:S3cret@10.0.0.1:6379/1", /has a path/],
    ["redis://admin:S3cret@10.0.0.1", /has no host:port/],
    ["admin:S3cret@10.0.0.1:6379", /is not host:port/],
    [
      "redis://admin:S3cret@10.0.0.1:6379,redis://admin:0ther@10.0.0.2:6379",
      /different user names or passwords/,
    ],
  ])("names a malformed seed list %# without the credentials in it", (list, message) => {
    const error = thrownBy(() => parseClusterNodes(list));
    expect((error as Error).message).toMatch(message);
    expect(logged(error)).not.toContain("S3cret");
    expect(logged(error)).not.toContain("0ther");
  });

  it("still quotes a plain typo so it can be found", () => {
    expect(() => parseClusterNodes("10.0.0.1:6379,10.0.0.2")).toThrow(/"10\.0\.0\.2" is not host:port/);
  });
});

describe("parseClusterTarget", () => {
  it("reads plain seeds with no credentials", () => {
    expect(parseClusterTarget(" a:1 , b:2,")).toEqual({ clusterNodes: ["a:1", "b:2"] });
  });

  it("takes a password (and user) given on one seed for every node, percent-decoded", () => {
    expect(parseClusterTarget("redis://:p%40ss@a:1,b:2")).toEqual({
      clusterNodes: ["a:1", "b:2"],
      password: "p@ss",
    });
    expect(parseClusterTarget("redis://jude:pw@A:1,redis://jude:pw@b:2")).toEqual({
      clusterNodes: ["A:1", "b:2"],
      username: "jude",
      password: "pw",
    });
  });
});

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

  it("refuses a password with an unencoded # / ? or @ that parses with part of it as the host", () => {
    // "redis://:p@zq#wordy@host" parses as host "zq" and fragment "#wordy@host": a connection error
    // would name "zq", part of the password, and the path check quoted "/wordy@host".
    for (const url of [
      "redis://:p@zq#wordy@redis.data.svc:6379",
      "redis://:p@zq/wordy@redis.data.svc:6379",
      "redis://:p@zq?wordy@redis.data.svc:6379",
      "redis://redis.data.svc:6379/0#frag",
    ]) {
      const error = thrownBy(() => connectRedis({ url }));
      expect(isStoreError(error, "INVALID_ARGUMENT"), url).toBe(true);
      expect((error as Error).message, url).toMatch(/percent-encode/);
      expect(logged(error), url).not.toContain("zq");
      expect(logged(error), url).not.toContain("wordy");
    }
  });
});

describe("connectRedis with a Cluster no seed node of which answers", () => {
  it("fails queued commands after clusterConnectAttempts tries", async () => {
    const client = connectRedis({ clusterNodes: ["127.0.0.1:1"] }, { clusterConnectAttempts: 2 });
    try {
      await expect(client.ping()).rejects.toThrow(/None of startup nodes is available/);
    } finally {
      client.disconnect();
    }
  });
});

describe("connectRedis with seed nodes that are not a Redis Cluster", () => {
  it("reports the node's own answer, not only that the slots could not be read", async () => {
    // A standalone Redis answers CLUSTER SLOTS (and everything else here) with this error.
    const server = createServer((socket) =>
      socket.on("data", (data) => {
        // One answer per command: each RESP command is an array ("*<n>") at the start of a line.
        const commands = `\n${data.toString("latin1")}`.split("\n*").length - 1;
        socket.write("-ERR This instance has cluster support disabled\r\n".repeat(commands));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const errors: Error[] = [];
    const client = connectRedis(
      { clusterNodes: [`127.0.0.1:${port}`] },
      { clusterConnectAttempts: 1, onConnectionError: (error) => errors.push(error) },
    );
    try {
      await expect(client.ping()).rejects.toThrow();
      expect(errors[0]?.message).toBe(
        "Failed to refresh slots cache. (a node answered: ERR This instance has cluster support disabled)",
      );
    } finally {
      client.disconnect();
      server.close();
    }
  });
});

describe("dropConnection", () => {
  it("ends a client between reconnect attempts at once, failing what it queued and a QUIT after", async () => {
    // A store that refuses connections (Redis down, restarting): the client waits between attempts
    // with no socket, queuing commands. Their command timeout is far off: only the drop may end them.
    const client = connectRedis({ url: "redis://127.0.0.1:1" }, { commandTimeoutMs: 600_000 });
    try {
      await new Promise((resolve) => client.once("reconnecting", resolve));
      const queued = client.get("a-write-of-the-abandoned-batch");
      queued.catch(() => undefined);
      dropConnection(client);
      await new Promise((resolve) => setImmediate(resolve));
      expect(client.status).toBe("end");
      await expect(queued).rejects.toThrow("Connection is closed");
      await expect(client.quit()).rejects.toThrow("Connection is closed");
    } finally {
      client.disconnect();
    }
  });

  it("ends a client whose store accepts connections and never answers", async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const client = connectRedis({ url: `redis://127.0.0.1:${port}` }, { commandTimeoutMs: 600_000 });
    try {
      await new Promise((resolve) => client.once("connect", resolve));
      const queued = client.get("a-write-of-the-abandoned-batch");
      queued.catch(() => undefined);
      dropConnection(client);
      await expect(queued).rejects.toThrow("Connection is closed");
      expect(client.status).toBe("end");
    } finally {
      client.disconnect();
      server.close();
    }
  });

  it("ends a Cluster client with no node up at once, failing what it queued", async () => {
    // Every seed refuses (a Cluster whose nodes are all lost): the client waits between attempts to
    // read the slot map with no node connection, queuing commands no command timeout covers.
    const client = connectRedis({ clusterNodes: ["127.0.0.1:1"] }, { commandTimeoutMs: 600_000 });
    try {
      await new Promise((resolve) => client.once("reconnecting", resolve));
      const queued = client.get("a-write-of-the-abandoned-batch");
      queued.catch(() => undefined);
      dropConnection(client);
      expect(client.status).toBe("end");
      await expect(queued).rejects.toThrow("None of startup nodes is available");
      await expect(client.get("a-later-write")).rejects.toThrow("Connection is closed");
    } finally {
      client.disconnect();
    }
  });

  it("ends a Cluster client whose seed accepts connections and never answers", async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const client = connectRedis({ clusterNodes: [`127.0.0.1:${port}`] }, { commandTimeoutMs: 600_000 });
    try {
      await new Promise<void>((resolve) => server.once("connection", () => resolve()));
      const queued = client.get("a-write-of-the-abandoned-batch");
      queued.catch(() => undefined);
      dropConnection(client);
      expect(client.status).toBe("end");
      await expect(queued).rejects.toThrow("None of startup nodes is available");
    } finally {
      client.disconnect();
      server.close();
    }
  });
});
