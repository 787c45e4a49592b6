import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  DependencyWait,
  registerDependencyWaitMetric,
  unansweredAfterMs,
  whileUnanswered,
} from "./dependency-wait.ts";

describe("DependencyWait", () => {
  it("reports nothing while the batch in hand has not been retried", () => {
    const wait = new DependencyWait();
    wait.batchStarted(1_000);
    expect(wait.report(90_000)).toBeUndefined();
  });

  it("counts a wait from when the batch was taken and names the last dependency retried", () => {
    const wait = new DependencyWait();
    wait.batchStarted(1_000);
    wait.retried("embedding", new Error("connect ECONNREFUSED"), 5_000);
    wait.retried("store", new Error("Command timed out"), 30_000);
    expect(wait.report(61_500)).toEqual({
      dependency: "store",
      seconds: 60,
      retries: 2,
      error: "Command timed out",
    });
    wait.settled();
    expect(wait.report(70_000)).toBeUndefined();
  });

  it("counts a retry outside a batch (the stream reopening) from the retry", () => {
    const wait = new DependencyWait();
    wait.retried("kafka", "broker gone", 10_000);
    expect(wait.report(12_000)).toMatchObject({ dependency: "kafka", seconds: 2 });
  });

  it("exports the wait as a gauge that has no series while nothing waits", async () => {
    const registry = new Registry();
    const wait = new DependencyWait();
    registerDependencyWaitMetric(registry, { pipeline: "recs/jobs", version: "v1" }, wait);
    expect(await registry.metrics()).not.toMatch(/^jude_pipeline_dependency_wait_seconds\{/m);
    wait.batchStarted(Date.now() - 5_000);
    wait.retried("store", new Error("Command timed out"));
    expect(await registry.metrics()).toMatch(
      /^jude_pipeline_dependency_wait_seconds\{pipeline="recs\/jobs",version="v1",dependency="store"\} 5$/m,
    );
    wait.settled();
    expect(await registry.metrics()).not.toMatch(/^jude_pipeline_dependency_wait_seconds\{/m);
  });
});

describe("whileUnanswered", () => {
  beforeEach(() => vi.useFakeTimers({ now: 100_000 }));
  afterEach(() => vi.useRealTimers());

  /** A call that answers when `answer` is called. */
  function pendingCall(): { call: () => Promise<string>; answer: () => void } {
    let answer = () => undefined as void;
    const promise = new Promise<string>((resolve) => (answer = () => resolve("answered")));
    return { call: () => promise, answer };
  }

  it("says nothing of a call answered within its bound (a slow broker)", async () => {
    const wait = new DependencyWait();
    const said: Error[] = [];
    const { call, answer } = pendingCall();
    const answered = whileUnanswered(call, { wait, dependency: "kafka", onUnanswered: (e) => said.push(e) });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs - 1);
    answer();
    expect(await answered).toBe("answered");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(said).toEqual([]);
    expect(wait.report()).toBeUndefined();
  });

  it("reports a call unanswered past its bound every 5 s until it is answered", async () => {
    const wait = new DependencyWait();
    const said: Error[] = [];
    const { call, answer } = pendingCall();
    const answered = whileUnanswered(call, { wait, dependency: "kafka", onUnanswered: (e) => said.push(e) });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs);
    expect(said).toHaveLength(1);
    expect(wait.report()).toEqual({
      dependency: "kafka",
      seconds: unansweredAfterMs / 1000,
      retries: 1,
      error: expect.stringMatching(/^no answer from kafka for 15 s/) as unknown,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(said).toHaveLength(3);
    expect(wait.report()).toMatchObject({ seconds: 25, retries: 3 });
    answer();
    await answered;
    expect(wait.report()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(said).toHaveLength(3);
  });

  it("goes on with one wait when a call fails after the client's timeouts and the next hangs too", async () => {
    const wait = new DependencyWait();
    let fail = (_: Error) => undefined as void;
    const hung = () => new Promise<never>((_, reject) => (fail = reject));
    const first = whileUnanswered(hung, { wait, dependency: "kafka", onUnanswered: () => undefined });
    await vi.advanceTimersByTimeAsync(150_000);
    fail(new Error("Request timed out"));
    await expect(first).rejects.toThrow("Request timed out");
    // Failed, not answered: still waiting, counted from the first call.
    expect(wait.report()).toMatchObject({ dependency: "kafka", seconds: 150 });
    const { call, answer } = pendingCall();
    const second = whileUnanswered(call, { wait, dependency: "kafka", onUnanswered: () => undefined });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs);
    // The error says the same seconds as the wait (/readyz, the NearlinePipeline's message), not the
    // second call's own 15 s beside a wait of 165 s.
    expect(wait.report()).toMatchObject({
      dependency: "kafka",
      seconds: 165,
      error: expect.stringMatching(/^no answer from kafka for 165 s/) as unknown,
    });
    // A retry outside a batch (the start's) counts from the first unanswered call too.
    wait.retried("kafka", new Error("Request timed out"));
    expect(wait.report()).toMatchObject({ dependency: "kafka", seconds: 165, retries: 1 });
    answer();
    await second;
    wait.settled();
    expect(wait.report()).toBeUndefined();
  });

  it("counts and says two calls unanswered at once (the lag check's, a rejoin's) once a period, as one", async () => {
    const wait = new DependencyWait();
    const said: Error[] = [];
    const onUnanswered = (error: Error) => said.push(error);
    let fail = (_: Error) => undefined as void;
    const lagCheck = whileUnanswered(() => new Promise<never>((_, reject) => (fail = reject)), {
      wait,
      dependency: "kafka",
      onUnanswered,
    });
    await vi.advanceTimersByTimeAsync(2_000);
    const { call, answer } = pendingCall();
    const rejoin = whileUnanswered(call, { wait, dependency: "kafka", onUnanswered });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs + 10_000);
    // 15 s, 20 s, 25 s after the first call: three periods, three reports, not six.
    expect(said).toHaveLength(3);
    expect(wait.report()).toMatchObject({ dependency: "kafka", seconds: 27, retries: 3 });
    // The first fails after the client's timeouts: the other, still unanswered, goes on saying it.
    fail(new Error("Request timed out"));
    await expect(lagCheck).rejects.toThrow("Request timed out");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(said).toHaveLength(5);
    expect(wait.report()).toMatchObject({ seconds: 37, retries: 5 });
    answer();
    await rejoin;
    expect(wait.report()).toBeUndefined();
  });

  it("says the error a dependency answers with once it answers again, going on with the wait until a call succeeds", async () => {
    const wait = new DependencyWait();
    let fail = (_: Error) => undefined as void;
    const hung = whileUnanswered(() => new Promise<never>((_, reject) => (fail = reject)), {
      wait,
      dependency: "kafka",
      onUnanswered: () => undefined,
    });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs + 5_000);
    expect(wait.report()?.error).toMatch(/^no answer from kafka/);
    // The broker answers again, with an error: it no longer says nothing, it says this.
    const refused = whileUnanswered(() => Promise.reject(new Error("The coordinator is not available")), {
      wait,
      dependency: "kafka",
      onUnanswered: () => undefined,
    });
    await expect(refused).rejects.toThrow("The coordinator is not available");
    expect(wait.report()).toMatchObject({
      dependency: "kafka",
      seconds: 20,
      error: "The coordinator is not available",
    });
    // A call failing after the client's own timeouts was not answered: it changes nothing.
    fail(new Error("Request timed out"));
    await expect(hung).rejects.toThrow("Request timed out");
    expect(wait.report()).toMatchObject({ seconds: 20, error: "The coordinator is not available" });
    await whileUnanswered(async () => "answered", {
      wait,
      dependency: "kafka",
      onUnanswered: () => undefined,
    });
    expect(wait.report()).toBeUndefined();
  });

  it("goes on counting from the first unanswered call when a batch taken since retries on that dependency", () => {
    const wait = new DependencyWait();
    wait.unanswered("kafka", 100_000, new Error("no answer from kafka for 15 s"), {});
    // A batch of records fetched before the hang, taken during it; its produce fails after the
    // client's timeouts: the wait on Kafka did not start with it (the operator's 60 s would restart).
    wait.batchStarted(130_000);
    expect(wait.report(160_000)).toMatchObject({ dependency: "kafka", seconds: 60 });
    wait.retried("kafka", new Error("Request timed out"), 160_000);
    expect(wait.report(160_000)).toMatchObject({ dependency: "kafka", seconds: 60, retries: 1 });
    // Another dependency's wait is the batch's own.
    wait.settled();
    wait.batchStarted(170_000);
    wait.retried("store", new Error("Command timed out"), 175_000);
    expect(wait.report(180_000)).toMatchObject({ dependency: "store", seconds: 10 });
  });

  it("gives way to the retries of the batch in hand, which name their own dependency", async () => {
    const wait = new DependencyWait();
    const { call, answer } = pendingCall();
    const answered = whileUnanswered(call, { wait, dependency: "kafka", onUnanswered: () => undefined });
    await vi.advanceTimersByTimeAsync(unansweredAfterMs);
    wait.batchStarted();
    expect(wait.report()?.dependency).toBe("kafka");
    wait.retried("store", new Error("Command timed out"));
    expect(wait.report()).toMatchObject({ dependency: "store", retries: 1 });
    answer();
    await answered;
  });
});
