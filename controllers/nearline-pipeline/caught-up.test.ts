import { describe, expect, it } from "vitest";
import type { PipelineVersionStatus } from "../../crds/index.ts";
import { caughtUpGate } from "../embedding-model/promotion-gates.ts";
import { caughtUpCondition } from "./caught-up.ts";

const gateSeconds = 30;

describe("caughtUpCondition", () => {
  const cases: {
    name: string;
    versions: PipelineVersionStatus[];
    maxLagSeconds?: number;
    status: string;
    reason: string;
    message: string;
  }[] = [
    {
      name: "no version measured (stalled, or no workers yet)",
      versions: [],
      status: "Unknown",
      reason: "NotMeasured",
      message: "no live version's workers are measured (see the Ready condition)",
    },
    {
      name: "model unknown: no gate to judge by",
      versions: [{ version: "v1", lag: 0 }],
      maxLagSeconds: undefined,
      status: "Unknown",
      reason: "NotMeasured",
      message: "no live version's workers are measured (see the Ready condition)",
    },
    {
      // Lag 0 opens the gate; no freshness figure only means nothing was written in the last minute.
      name: "nothing left to read, and nothing written in the last minute",
      versions: [{ version: "v1", lag: 0 }],
      status: "True",
      reason: "CaughtUp",
      message:
        "version v1: lag 0 records, freshness p95 none: no vector written in the last minute (gate 30s)",
    },
    {
      name: "records left but fresh within the gate",
      versions: [{ version: "v1", lag: 40, freshnessP95Ms: 1_500 }],
      status: "True",
      reason: "CaughtUp",
      message: "version v1: lag 40 records, freshness p95 1.5s (gate 30s)",
    },
    {
      name: "records left and freshness beyond the gate",
      versions: [{ version: "v1", lag: 40, freshnessP95Ms: 45_000 }],
      status: "False",
      reason: "CatchingUp",
      message: "version v1: lag 40 records, freshness p95 45.0s (gate 30s)",
    },
    {
      name: "records left and no freshness sample (workers not writing)",
      versions: [{ version: "v1", lag: 5 }],
      status: "False",
      reason: "CatchingUp",
      message:
        "version v1: lag 5 records, freshness p95 none: no vector written in the last minute (gate 30s)",
    },
    {
      name: "workers have not reported their lag",
      versions: [{ version: "v1", readyReplicas: 2 }],
      status: "Unknown",
      reason: "WaitingForWorkers",
      message:
        "version v1: waiting for a lag figure from its 2 ready workers (read every 2 s for a minute after they turn ready, then every 30 s)",
    },
    {
      name: "one version caught up, the other behind: only the one behind is named",
      versions: [
        { version: "v1", lag: 0 },
        { version: "v2", lag: 900, freshnessP95Ms: 120_000 },
      ],
      status: "False",
      reason: "CatchingUp",
      message: "version v2: lag 900 records, freshness p95 120.0s (gate 30s)",
    },
    {
      name: "one behind beats one unreported",
      versions: [{ version: "v1" }, { version: "v2", lag: 3 }],
      status: "False",
      reason: "CatchingUp",
      message:
        "version v2: lag 3 records, freshness p95 none: no vector written in the last minute (gate 30s)",
    },
    {
      name: "one caught up, one unreported",
      versions: [{ version: "v1", lag: 0 }, { version: "v2" }],
      status: "Unknown",
      reason: "WaitingForWorkers",
      message: "version v2: no worker reported its lag yet",
    },
    {
      name: "every version caught up",
      versions: [
        { version: "v1", lag: 0 },
        { version: "v2", lag: 2, freshnessP95Ms: 800 },
      ],
      status: "True",
      reason: "CaughtUp",
      message:
        "version v1: lag 0 records, freshness p95 none: no vector written in the last minute (gate 30s); version v2: lag 2 records, freshness p95 0.8s (gate 30s)",
    },
    {
      name: "a gate of 0 s needs an empty backlog",
      versions: [{ version: "v1", lag: 1, freshnessP95Ms: 10 }],
      maxLagSeconds: 0,
      status: "False",
      reason: "CatchingUp",
      message: "version v1: lag 1 records, freshness p95 0.0s (gate 0s)",
    },
  ];
  it("a live version whose workers have not started (waiting for its bootstrap's offsets) is not caught up", () => {
    expect(
      caughtUpCondition([{ version: "v1", lag: 0 }], gateSeconds, [{ version: "v2", reason: "offsets" }]),
    ).toEqual({
      type: "CaughtUp",
      status: "Unknown",
      reason: "WaitingForWorkers",
      message: "version v2: its workers have not started",
    });
    expect(
      caughtUpCondition([{ version: "v1", lag: 9 }], gateSeconds, [{ version: "v2", reason: "offsets" }]),
    ).toMatchObject({ status: "False", reason: "CatchingUp" });
  });

  it("says the figures are read again every 2 s while awaited, with a 5 s poll (--pipeline-poll-seconds)", () => {
    expect(caughtUpCondition([{ version: "v1", readyReplicas: 1 }], gateSeconds, [], 5_000).message).toBe(
      "version v1: waiting for a lag figure from its 1 ready worker (read every 2 s for a minute after they turn ready, then every 5 s)",
    );
  });

  for (const testCase of cases)
    it(testCase.name, () => {
      const maxLagSeconds = "maxLagSeconds" in testCase ? testCase.maxLagSeconds : gateSeconds;
      expect(caughtUpCondition(testCase.versions, maxLagSeconds)).toEqual({
        type: "CaughtUp",
        status: testCase.status,
        reason: testCase.reason,
        message: testCase.message,
      });
    });

  it("says the figures are read again every 2 s while awaited, with a 60 s poll (--pipeline-poll-seconds)", () => {
    expect(caughtUpCondition([{ version: "v1", readyReplicas: 1 }], 30, [], 60_000).message).toBe(
      "version v1: waiting for a lag figure from its 1 ready worker (read every 2 s for a minute after they turn ready, then every 60 s)",
    );
  });

  it("agrees with the model's CaughtUp gate for a single pipeline", () => {
    for (const entry of [
      { version: "v2", lag: 0 },
      { version: "v2", lag: 7, freshnessP95Ms: 29_000 },
      { version: "v2", lag: 7, freshnessP95Ms: 31_000 },
      { version: "v2", lag: 7 },
    ]) {
      const gate = caughtUpGate(
        "v2",
        {
          pipelines: 1,
          reporting: 1,
          records: entry.lag,
          ...(entry.freshnessP95Ms !== undefined ? { freshnessSeconds: entry.freshnessP95Ms / 1000 } : {}),
        },
        gateSeconds,
      );
      expect(caughtUpCondition([entry], gateSeconds).status).toBe(gate.state === "Open" ? "True" : "False");
    }
  });
});
