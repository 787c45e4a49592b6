// An operator started with a namespace in --namespaces that does not exist yet, against the testbed's
// real API server with the controllers in-process: it becomes ready (a namespaced list of a missing
// namespace is an empty list, not an error), and a model applied once the namespace is created is
// reconciled without a restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverPort } from "../../../operator/runtime/health-server.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  listObjects,
  startInProcessOperator,
} from "./operator-harness.ts";

const later = `created-later-${process.pid}`;

describe("an operator watching a namespace created after it started", () => {
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    operator = startInProcessOperator([later]);
  });
  afterAll(async () => {
    await operator?.stop();
    await deleteNamespace(later);
  });

  it("is ready before the namespace exists and reconciles it once created", async () => {
    const server = () => operator!.manager.server;
    let status = 0;
    await waitFor(
      "/readyz answering 200",
      async () => {
        if (server() === undefined) return false;
        status = (await fetch(`http://127.0.0.1:${serverPort(server()!)}/readyz`)).status;
        return status === 200;
      },
      { timeoutMs: 60_000 },
    ).catch(() => undefined);
    expect(status).toBe(200);
    await createRestrictedNamespace(later);
    await apply([cpuModel(later, "minilm", { replicas: 1 })]);
    await waitFor(
      `a Deployment of the model in ${later}`,
      async () =>
        (await listObjects("deployments", later, "app.kubernetes.io/managed-by=jude-operator")).length > 0,
      { timeoutMs: 90_000 },
    );
  });
});
