import { describe, expect, it } from "vitest";
import { createRootLogger } from "./logger.ts";

describe("createRootLogger", () => {
  it("takes the level from JUDE_LOG_LEVEL unless one is given", () => {
    expect(createRootLogger({ component: "t", env: { JUDE_LOG_LEVEL: "warn" } }).level).toBe("warn");
    expect(createRootLogger({ component: "t", env: {} }).level).toBe("info");
    expect(createRootLogger({ component: "t", level: "debug", env: { JUDE_LOG_LEVEL: "warn" } }).level).toBe(
      "debug",
    );
  });

  it("binds the component and extra bindings to every line", () => {
    const logger = createRootLogger({ component: "nearline", env: {}, bindings: { version: "v2" } });
    expect(logger.bindings()).toMatchObject({ component: "nearline", version: "v2" });
  });

  it("refuses an unknown level with the accepted list", () => {
    expect(() => createRootLogger({ component: "t", env: { JUDE_LOG_LEVEL: "loud" } })).toThrow(
      /"loud" is not one of trace, debug, info/,
    );
  });
});

describe("the root logger's error serializer", () => {
  /** The JSON lines a root logger writes. */
  function capture(): { logger: ReturnType<typeof createRootLogger>; lines: () => string } {
    const chunks: string[] = [];
    const destination = { write: (chunk: string) => void chunks.push(chunk) };
    return {
      logger: createRootLogger({ component: "t", env: {}, destination }),
      lines: () => chunks.join(""),
    };
  }

  // ioredis attaches the failed command to its errors; a refused HELLO/AUTH carries the password.
  function refusedHello(): Error {
    const error = new Error("WRONGPASS invalid username-password pair or user is disabled.");
    error.name = "ReplyError";
    Object.assign(error, { command: { name: "hello", args: ["3", "AUTH", "jude", "s3cret-pw"] } });
    return error;
  }

  it("never writes the arguments of a Redis command attached to an error", () => {
    const { logger, lines } = capture();
    logger.warn({ err: refusedHello() }, "store unavailable");
    logger.error(refusedHello());
    const aggregate = new AggregateError([refusedHello()], "every node failed");
    logger.warn({ err: Object.assign(new Error("open failed"), { last: refusedHello() }) }, "nested");
    logger.warn({ err: aggregate }, "cluster unavailable");
    expect(lines()).not.toContain("s3cret-pw");
    const first = JSON.parse(lines().split("\n")[0]!) as { err: Record<string, unknown> };
    expect(first.err).toMatchObject({
      message: "WRONGPASS invalid username-password pair or user is disabled.",
      command: { name: "hello", args: "[4 arguments not logged]" },
    });
  });

  // fetch names the URL it refuses (user and password included); an exec credential plugin's stderr
  // or an API server's message can carry a bearer token. Neither belongs in a log.
  it("never writes a URL's user and password or a bearer token in an error's message or stack", () => {
    const { logger, lines } = capture();
    const url = new TypeError(
      "Request cannot be constructed from a URL that includes credentials: https://admin:s3cret-pw@10.0.0.1:6443/api",
    );
    const exec = new Error("exec plugin failed: Authorization: Bearer tok-s3cret-pw rejected");
    logger.warn({ err: url }, "list failed");
    logger.warn({ err: Object.assign(new Error("watch failed"), { cause: exec }) }, "watch failed");
    logger.warn({ err: new AggregateError([exec], "every try failed") }, "gave up");
    expect(lines()).not.toContain("s3cret-pw");
    const first = JSON.parse(lines().split("\n")[0]!) as { err: { message: string } };
    expect(first.err.message).toBe(
      "Request cannot be constructed from a URL that includes credentials: https://***@10.0.0.1:6443/api",
    );
  });

  // The Kafka client nests a request's tries three deep (listing topics > metadata tries > brokers);
  // the redaction stopped four levels of fields down, so an error that deep was written as it was.
  it("redacts nested errors however deep their nesting goes", () => {
    const { logger, lines } = capture();
    const url = new TypeError("fetch failed: https://admin:s3cret-pw@10.0.0.1:6443/api");
    let nested: Error = new AggregateError([refusedHello(), url], "connect failed");
    for (let level = 0; level < 4; level += 1) nested = new AggregateError([nested], `level ${level}`);
    logger.warn({ err: nested }, "deep");
    expect(lines()).toContain("https://***@10.0.0.1:6443/api");
    expect(lines()).not.toContain("s3cret-pw");
  });

  it("leaves the logged error itself untouched", () => {
    const { logger } = capture();
    const error = refusedHello();
    const details = { command: { name: "auth", args: ["s3cret-pw"] } };
    logger.warn({ err: Object.assign(error, { details }) }, "store unavailable");
    expect((error as Error & { command: { args: string[] } }).command.args).toContain("s3cret-pw");
    expect(details.command.args).toEqual(["s3cret-pw"]);
  });

  // The Kafka client's error for brokers that are down nests every try of every request: 6 tries of
  // "Cannot connect to any broker." each with its ECONNREFUSED, each with a stack. A wait logged it at
  // every retry, 13 KB a line. Repeats are written once with their count; nested stacks are left out.
  it("writes repeated nested errors once, with their count, and only the outer stack", () => {
    const { logger, lines } = capture();
    const refused = () =>
      new AggregateError(
        [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9092"), { code: "ECONNREFUSED" })],
        "Cannot connect to any broker.",
      );
    const tries = new AggregateError(Array.from({ length: 6 }, refused), "metadata failed 6 times.");
    const other = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9093"), { code: "ECONNREFUSED" });
    logger.warn({ err: new AggregateError([tries, other], "Listing topics failed.") }, "kafka unavailable");
    const { err } = JSON.parse(lines()) as { err: Record<string, unknown> };
    expect(err).toMatchObject({ message: "Listing topics failed.", stack: expect.any(String) });
    const [metadata, second] = err.aggregateErrors as Record<string, unknown>[];
    expect(metadata).toEqual({
      type: "AggregateError",
      message: "metadata failed 6 times.",
      aggregateErrors: [
        {
          type: "AggregateError",
          message: "Cannot connect to any broker.",
          repeated: 6,
          aggregateErrors: [
            { type: "Error", message: "connect ECONNREFUSED 127.0.0.1:9092", code: "ECONNREFUSED" },
          ],
        },
      ],
    });
    // Different errors stay apart.
    expect(second).toEqual({
      type: "Error",
      message: "connect ECONNREFUSED 127.0.0.1:9093",
      code: "ECONNREFUSED",
    });
  });

  // The collapse compares nested errors by their JSON: a field that JSON cannot write (a connection
  // object pointing back at itself, a bigint), which pino writes anyway, made the log call throw.
  it("writes nested errors whose fields JSON cannot write, as pino does", () => {
    const { logger, lines } = capture();
    const connection: Record<string, unknown> = { host: "b:9092" };
    connection.self = connection;
    const nested = () =>
      Object.assign(new Error("Connection to b:9092 failed."), { connection, correlation: 7n });
    logger.warn(
      { err: new AggregateError([nested(), nested()], "Listing topics failed.") },
      "kafka unavailable",
    );
    const { err } = JSON.parse(lines()) as { err: { aggregateErrors: { message: string }[] } };
    expect(err.aggregateErrors[0]).toMatchObject({ message: "Connection to b:9092 failed." });
  });

  it("writes other error fields as pino does", () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error("bad record"), {
      code: "E1",
      key: Buffer.from("ab"),
      at: new Date(0),
    });
    logger.warn({ err: error }, "failed");
    expect(JSON.parse(lines()).err).toMatchObject({
      message: "bad record",
      code: "E1",
      key: { type: "Buffer", data: [97, 98] },
      at: "1970-01-01T00:00:00.000Z",
    });
  });
});
