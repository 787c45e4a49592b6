/**
 * A second SIGTERM during a drain means "now" (a user's second Ctrl-C, or a supervisor that will not
 * wait): the drain is cut short, the calls still running are cancelled, and `jude serve` exits 1 (the
 * drain did not complete). Before, the second signal joined the drain already running: the process
 * went on waiting for every call in flight, up to drainTimeoutMs, and exited 0.
 */
import { afterAll, expect, it } from "vitest";
import { serveWithCallsInFlight } from "./helpers.ts";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a second SIGTERM cuts the drain short: the calls in flight are cancelled and jude serve exits 1", async () => {
  // The calls in flight take many seconds; the drain would wait for them all (timeout ten minutes).
  const { serve, calls } = await serveWithCallsInFlight(
    ["--drain-timeout-ms=600000"],
    24,
    (call) =>
      call.then(
        () => "answered",
        () => "failed",
      ),
    cleanups,
  );

  serve.child.kill("SIGTERM");
  await serve.waitForLog((line) => line.msg === "draining");
  serve.child.kill("SIGTERM");

  expect(await serve.exited).toBe(1);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: false });
  expect(await calls).toContain("failed");
});
