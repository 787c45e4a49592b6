/**
 * A refused Redis login never puts the password in a log line: ioredis attaches the failed HELLO/AUTH
 * command, arguments included, to the error, and the operator logs the raw error when it cannot read a
 * run's checkpoints (controllers/bootstrap-run/reconcile.ts). The testbed's Redis has no such user, so
 * it refuses the login as a Redis with the user's real password would refuse a stale one.
 */
import { describe, expect, it } from "vitest";
import { readRunCheckpoints } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { connectRedis } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";

describe("a refused Redis login in the logs", () => {
  it("names the refusal and never the password", async () => {
    const password = "jude-test-pw-4f1c9e";
    const url = new URL(requireEnv("JUDE_REDIS_URL"));
    url.username = "jude-no-such-user";
    url.password = password;
    const client = connectRedis(
      { url: url.toString() },
      { maxRetriesPerRequest: 1, commandTimeoutMs: 5_000 },
    );
    const error = await readRunCheckpoints(client, "jude-test:credentials", { namespace: "n", name: "r" }, 1)
      .then(
        () => undefined,
        (failure: unknown) => failure,
      )
      .finally(() => client.disconnect());
    expect(String(error)).toMatch(/WRONGPASS/);

    const lines: string[] = [];
    const log = createRootLogger({
      component: "t",
      env: {},
      destination: { write: (line: string) => void lines.push(line) },
    });
    log.warn({ err: error }, "cannot read the shards' checkpoints; progress is refreshed later");
    expect(lines.join("")).toMatch(/WRONGPASS/);
    expect(lines.join("")).not.toContain(password);
  });
});
