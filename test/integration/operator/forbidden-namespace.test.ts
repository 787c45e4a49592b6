// An operator watching two namespaces whose RBAC lets it list only one of them (the RoleBinding of the
// other is missing, or not created yet), against the testbed's real API server with the controllers
// in-process: the namespace it may read is reconciled as usual, /readyz names the informer that
// cannot list and why, and the other namespace is reconciled as soon as its RoleBinding appears.
import { describe, expect, it } from "vitest";
import { serverPort } from "../../../operator/runtime/health-server.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  cpuModel,
  getObject,
  type Json,
  operatorRoleBinding,
  useOperatorWithRbac,
} from "./operator-harness.ts";

const allowed = `forbidden-ok-${process.pid}`;
const denied = `forbidden-no-${process.pid}`;
const role = `jude-forbidden-test-${process.pid}`;

const conditionsOf = async (namespace: string): Promise<unknown[]> =>
  (((await getObject("embeddingmodel/minilm", namespace))?.status as Json | undefined)?.conditions ??
    []) as unknown[];

describe("an operator that may not list one of its namespaces", () => {
  const operator = useOperatorWithRbac({
    name: role,
    namespaces: [allowed, denied],
    clusterRoles: { [role]: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] },
    roleBindings: { [allowed]: role },
    objects: [cpuModel(allowed, "minilm", { replicas: 1 }), cpuModel(denied, "minilm", { replicas: 1 })],
  });

  it("reconciles the namespace it may list, and reports the one it may not on /readyz", async () => {
    await waitFor(
      `the model in ${allowed} reconciled`,
      async () => (await conditionsOf(allowed)).length > 0,
      {
        timeoutMs: 60_000,
      },
    );
    expect(await conditionsOf(denied)).toEqual([]);
    const server = operator().manager.server!;
    const readyz = await fetch(`http://127.0.0.1:${serverPort(server)}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toMatch(
      new RegExp(
        `\\[-\\]informer:embeddingmodels\\.jude\\.dev/${denied} initial list not complete: .*forbidden`,
      ),
    );
  });

  it("reconciles the other namespace once its RoleBinding exists", async () => {
    await apply([operatorRoleBinding(role, denied, role, allowed)]);
    await waitFor(`the model in ${denied} reconciled`, async () => (await conditionsOf(denied)).length > 0, {
      timeoutMs: 90_000,
    });
  });
});
