import { describe, expect, it } from "vitest";
import { childLabels } from "../shared/labels.ts";
import { versionsWithWriterPods, type WriterPodView } from "./writer-pods.ts";

function pod(
  component: "serving" | "nearline" | "bootstrap",
  model: string,
  version: string,
  phase: string,
  terminating = false,
): WriterPodView {
  const { labels } = childLabels(component, { model, embeddingVersion: version });
  return {
    metadata: { labels, ...(terminating ? { deletionTimestamp: "2026-12-02T17:00:00Z" } : {}) },
    status: { phase },
  };
}

describe("versionsWithWriterPods", () => {
  it("counts nearline and bootstrap pods of the model that have not ended, terminating ones included", () => {
    const pods = [
      pod("nearline", "jobs", "v1", "Running", true),
      pod("bootstrap", "jobs", "v2", "Pending"),
      pod("nearline", "jobs", "v3", "Running"),
    ];
    expect(versionsWithWriterPods(pods, "jobs").sort()).toEqual(["v1", "v2", "v3"]);
  });

  it("ignores ended pods, serving pods, other models' pods and pods without a version", () => {
    const pods = [
      pod("nearline", "jobs", "v1", "Failed", true),
      pod("bootstrap", "jobs", "v2", "Succeeded"),
      pod("serving", "jobs", "v3", "Running"),
      pod("nearline", "members", "v4", "Running"),
      {
        metadata: { labels: { ...childLabels("nearline", { model: "jobs" }).labels } },
        status: { phase: "Running" },
      },
    ];
    expect(versionsWithWriterPods(pods, "jobs")).toEqual([]);
  });
});
