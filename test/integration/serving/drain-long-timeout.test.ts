/**
 * A drain timeout longer than a Node timer takes (2^31-1 ms, about 24.8 days: "wait as long as it
 * takes") must not end the drain at once. Node fires a longer timer after 1 ms, so such a drain "timed
 * out" as soon as it began: the calls in flight were cancelled and `jude serve` exited 1.
 */
import { afterAll, expect, it } from "vitest";
import { serveWithCallsInFlight } from "./helpers.ts";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a drain timeout past the longest timer still waits for the calls in flight", async () => {
  const { serve, calls } = await serveWithCallsInFlight(
    [`--drain-timeout-ms=${2 ** 32}`],
    8,
    (call) =>
      call.then(
        (answer) => answer.vectors.length,
        (error: unknown) => String(error),
      ),
    cleanups,
  );

  serve.child.kill("SIGTERM");

  expect(await calls).toEqual(Array.from({ length: 8 }, () => 1));
  expect(await serve.exited).toBe(0);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
});
