import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { DependencyWait, registerDependencyWaitMetric } from "./dependency-wait.ts";

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
