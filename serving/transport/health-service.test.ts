import { describe, expect, it } from "vitest";
import { HealthState } from "./health-service.ts";

describe("HealthState", () => {
  it("starts NOT_SERVING for the server and each service, and knows no other service", () => {
    const health = new HealthState(["a.Service"]);
    expect(health.get("")).toBe("NOT_SERVING");
    expect(health.get("a.Service")).toBe("NOT_SERVING");
    expect(health.get("b.Service")).toBeUndefined();
  });

  it("notifies watchers of changes only", () => {
    const health = new HealthState(["a.Service"]);
    const seen: string[] = [];
    const stop = health.watch("a.Service", (status) => seen.push(status));
    health.setAll("SERVING");
    health.setAll("SERVING");
    health.setAll("NOT_SERVING");
    stop();
    health.setAll("SERVING");
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
  });

  it("stays NOT_SERVING once broken and keeps the first reason", () => {
    const health = new HealthState([]);
    health.setAll("SERVING");
    health.markBroken("the inference worker failed");
    health.markBroken("later");
    health.setAll("SERVING");
    expect(health.get("")).toBe("NOT_SERVING");
    expect(health.broken).toBe("the inference worker failed");
  });

  it("ends open Watch streams on demand", () => {
    const health = new HealthState([]);
    let closed = 0;
    health.onClose(() => closed++);
    const unregister = health.onClose(() => closed++);
    unregister();
    health.closeWatches();
    expect(closed).toBe(1);
  });
});
