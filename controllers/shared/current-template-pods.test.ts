import { describe, expect, it } from "vitest";
import { currentTemplatePods, type DeploymentTemplateView } from "./current-template-pods.ts";

const pod = (name: string, replicaSet?: string) => ({
  metadata: {
    name,
    ...(replicaSet !== undefined
      ? { ownerReferences: [{ kind: "ReplicaSet", name: replicaSet, controller: true }] }
      : {}),
  },
});
const deployment = (message: string | undefined, generation = 2, observedGeneration = 2) => ({
  metadata: { generation },
  status: {
    observedGeneration,
    conditions: [
      { type: "Available", message: "Deployment does not have minimum availability." },
      ...(message !== undefined ? [{ type: "Progressing", message }] : []),
    ],
  },
});
const pods = [pod("old-1", "web-old"), pod("new-1", "web-new"), pod("orphan")];
const names = (view: DeploymentTemplateView | undefined) =>
  currentTemplatePods(view, pods).map((entry) => entry.metadata.name);

describe("the pods of a Deployment's current template (decision table)", () => {
  it.each([
    ["a new ReplicaSet just created", 'Created new replica set "web-new"', ["new-1", "orphan"]],
    ["a ReplicaSet found again (rollback)", 'Found new replica set "web-new"', ["new-1", "orphan"]],
    ["rolling out", 'ReplicaSet "web-new" is progressing.', ["new-1", "orphan"]],
    ["rolled out", 'ReplicaSet "web-new" has successfully progressed.', ["new-1", "orphan"]],
    ["past its deadline", 'ReplicaSet "web-new" has timed out progressing.', ["new-1", "orphan"]],
    ["paused: no ReplicaSet named", "Deployment is paused", ["old-1", "new-1", "orphan"]],
    ["no Progressing condition yet", undefined, ["old-1", "new-1", "orphan"]],
  ])("%s", (_case, message, expected) => {
    expect(names(deployment(message))).toEqual(expected);
  });

  it("none while the Deployment controller has not seen the latest spec: they run a replaced template", () => {
    expect(names(deployment('ReplicaSet "web-old" has successfully progressed.', 3, 2))).toEqual([]);
  });

  it("all of them when the Deployment is not in the cache", () => {
    expect(names(undefined)).toEqual(["old-1", "new-1", "orphan"]);
  });
});
