import { describe, expect, it } from "vitest";
import { closingText, renderSummary, summarize, type Measurements } from "./summary.ts";

const counters = (processed: number, skippedUnchanged: number, freshnessP95Ms?: number) => ({
  processed,
  embedded: processed - skippedUnchanged,
  skippedUnchanged,
  deleted: 0,
  deadLettered: 0,
  ...(freshnessP95Ms !== undefined && { freshnessP95Ms }),
});

const measurements: Measurements = {
  activeVersion: "minilm-v2",
  replay: [
    { pipeline: "jobs", before: counters(1200, 0), after: counters(2436, 420, 850) },
    { pipeline: "member-profiles", before: counters(800, 0), after: counters(1624, 280, 1200) },
  ],
  replayEvents: 2060,
  replaySeconds: 4,
  bootstraps: [
    { name: "jobs-minilm-v1", version: "minilm-v1", processed: 1200, embedded: 1020, deduplicated: 180 },
    {
      name: "member-profiles-minilm-v1",
      version: "minilm-v1",
      processed: 800,
      embedded: 720,
      deduplicated: 80,
    },
  ],
  storeCounts: { job: 1524, "member-profile": 1016 },
  storeLive: 2540,
  cutoverSeconds: 42.25,
  topJobs: [{ memberId: "member-00001", jobs: [{ id: "job-00007", score: 0.81234 }] }],
};

describe("summarize", () => {
  it("computes the ratios over the replay window and the first bootstrap", () => {
    const summary = summarize(measurements);
    expect(summary.skipRatio).toBeCloseTo(700 / 2060, 12);
    expect(summary.dedupRatio).toBe(260 / 2000);
    expect(summary.freshnessP95Ms).toBe(1200);
    expect(summary.replayEventsPerSecond).toBe(515);
    expect(summary.entitiesEmbedded).toEqual({ job: 1524, "member-profile": 1016 });
  });

  it("has no freshness when no pipeline reported one, and zero ratios on empty input", () => {
    const summary = summarize({ ...measurements, replay: [], bootstraps: [] });
    expect(summary).toMatchObject({ freshnessP95Ms: undefined, skipRatio: 0, dedupRatio: 0 });
  });

  it("prints every figure and the top jobs with their titles", () => {
    const text = renderSummary(summarize(measurements), new Map([["job-00007", "Data Engineer"]]));
    expect(text).toContain("skip ratio                34.0% of replayed events");
    expect(text).toContain("dedup ratio               13.0%");
    expect(text).toContain("freshness p95             1200 ms");
    expect(text).toContain("cutover time              42.3 s");
    expect(text).toContain("0.8123  job-00007  Data Engineer");
  });
});

describe("the quickstart's closing lines", () => {
  const base = {
    elapsedSeconds: 116.4,
    url: "http://127.0.0.1:3100/",
    namespace: "jude-quickstart",
    kubeconfig: "/k",
  };

  it("on a terminal, points at the dashboard that keeps running", () => {
    const text = closingText({ ...base, interactive: true });
    expect(text).toContain("The quickstart took 116 s. Dashboard: http://127.0.0.1:3100/\n");
    expect(text).toContain("Ctrl-C stops everything the quickstart started");
  });

  it("non-interactively, does not hand out the URL of the dashboard it stops, but the command that serves one", () => {
    const text = closingText({ ...base, interactive: false });
    expect(text).not.toContain("http://127.0.0.1:3100/");
    expect(text).toContain("npm run kubectl-jude -- dashboard -n jude-quickstart --kubeconfig /k");
    expect(text).toContain("npm run kubectl-jude -- status -n jude-quickstart --kubeconfig /k");
  });
});
