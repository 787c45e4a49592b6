import { describe, expect, it } from "vitest";
import { deploymentRefusal, describeRefused, jobRefusal } from "./refused-pods.ts";

// What kube-controller-manager 1.34 wrote on the testbed for a namespace whose ResourceQuota
// requires CPU limits.
const quotaAnswer =
  'pods "jobs-minilm-v1-bootstrap-0-lgdcq" is forbidden: failed quota: compute: must specify limits.cpu for: bootstrap';

describe("pods the API server refuses to create", () => {
  it("reads a Deployment's ReplicaFailure condition", () => {
    const deployment = {
      status: {
        conditions: [
          { type: "Available", status: "False", reason: "MinimumReplicasUnavailable" },
          { type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: quotaAnswer },
        ],
      },
    };
    expect(deploymentRefusal(deployment)).toEqual({ message: quotaAnswer });
    expect(deploymentRefusal({ status: { conditions: [{ type: "Available", status: "True" }] } })).toBe(
      undefined,
    );
    expect(deploymentRefusal(undefined)).toBeUndefined();
  });

  it("takes a Job's latest FailedCreate Event, without the recorder's wrapping", () => {
    const events = [
      {
        reason: "FailedCreate",
        message: "Error creating: old answer",
        lastTimestamp: "2026-12-03T10:00:00Z",
      },
      {
        reason: "FailedCreate",
        message: `(combined from similar events): Error creating: ${quotaAnswer}`,
        lastTimestamp: "2026-12-03T10:05:00Z",
      },
      { reason: "SuccessfulCreate", message: "Created pod: x", lastTimestamp: "2026-12-03T10:06:00Z" },
    ];
    expect(jobRefusal(events, [])).toEqual({ message: quotaAnswer });
  });

  it("reads the time of an Event recorded with the events.k8s.io fields", () => {
    const events = [
      {
        reason: "FailedCreate",
        message: "Error creating: newer",
        eventTime: "2026-12-03T10:00:00.000000Z",
        series: { lastObservedTime: "2026-12-03T10:09:00.000000Z" },
      },
      { reason: "FailedCreate", message: "Error creating: older", lastTimestamp: "2026-12-03T10:05:00Z" },
    ];
    expect(jobRefusal(events, [])?.message).toBe("newer");
  });

  it("ignores a refusal that a pod created later shows has ended, however old the Event", () => {
    const events = [
      {
        reason: "FailedCreate",
        message: `Error creating: ${quotaAnswer}`,
        lastTimestamp: "2026-12-03T10:05:00Z",
      },
    ];
    expect(jobRefusal(events, [{ metadata: { creationTimestamp: "2026-12-03T10:06:00Z" } }])).toBeUndefined();
    expect(jobRefusal(events, [{ metadata: { creationTimestamp: "2026-12-03T10:04:00Z" } }])).toEqual({
      message: quotaAnswer,
    });
    expect(jobRefusal([], [])).toBeUndefined();
  });

  it("names the API server's answer in the description", () => {
    expect(describeRefused({ message: quotaAnswer })).toMatch(
      /^the API server refuses to create its pods .*: pods ".*" is forbidden: failed quota: compute: must specify limits\.cpu for: bootstrap$/,
    );
  });
});
