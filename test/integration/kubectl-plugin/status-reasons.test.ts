/**
 * `kubectl jude status` reading what the real operator writes while a model's serving pods cannot be
 * scheduled (a model with a pipeline and its store, so every promotion gate applies): the first
 * version's ServingReady gate is waited for (…) with the scheduler's reason, the
 * gates after it are not measured yet (…), and none reads as failed (✗), while the operator says
 * Reconciling, not Stalled.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../../support/redis.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { waitFor } from "../../testbed/wait.ts";
import { pipeline, storeSecret } from "../controllers/objects.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  startInProcessOperator,
  type Json,
} from "../operator/operator-harness.ts";

const execFileAsync = promisify(execFile);
const namespace = `status-reasons-${process.pid}`;

async function plugin(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [join(repoRoot, "cli/kubectl-jude.ts"), ...args, "--kubeconfig", requireEnv("KUBECONFIG")],
    { cwd: repoRoot },
  );
  return stdout;
}

describe("kubectl jude status with the operator's reasons", () => {
  let operator: ReturnType<typeof startInProcessOperator>;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    // No node carries this label: every serving pod stays Pending, Unschedulable.
    operator = startInProcessOperator([namespace], {
      placement: { nodeSelector: { "testbed.jude.dev/pool": `${namespace}-nowhere` }, tolerations: [] },
    });
  });

  afterAll(async () => {
    await operator?.stop();
    await deleteNamespace(namespace);
    // The store (named after the namespace) the operator claimed for the model.
    const client = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
    await deleteKeysWithPrefix(client, `{jude:${namespace}}`);
    client.disconnect();
  });

  it("marks a first version whose pods cannot be scheduled as waited for, with the scheduler's reason", async () => {
    const model = cpuModel(namespace, "unplaced", { replicas: 1 });
    (model.spec as Json).prompts = { job: "Job: {{title}}" };
    // Pipelines need the model's digest (without one the version is Stalled, ModelDigestUnknown).
    ((model.spec as Json).model as Json).sha256 = "1".repeat(64);
    const jobs = pipeline("jobs", `${namespace}-jobs`, (spec) => {
      spec.modelRef = { name: "unplaced" };
      spec.sinks.store.name = namespace;
    });
    (jobs.metadata as Json).namespace = namespace;
    await apply([{ ...storeSecret(), metadata: { name: "jude-redis", namespace } }, model, jobs]);
    let held = await getObject("embeddingmodel/unplaced", namespace);
    await waitFor(
      "the operator to say Unschedulable",
      async () => {
        held = await getObject("embeddingmodel/unplaced", namespace);
        return condition(held, "Ready")?.reason === "Unschedulable";
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; ${JSON.stringify(held?.status)}`);
    });
    expect(condition(held, "Stalled")?.status).toBe("False");
    const text = await plugin(["status", "unplaced", "-n", namespace]);
    expect(text).toContain("  first version v1, gates:\n");
    expect(text).toMatch(/… ServingReady\s+version v1: 0\/1 replicas ready.*cannot be scheduled/);
    expect(text).toMatch(/… BootstrapComplete\s+waiting for ServingReady/);
    expect(text).not.toContain("✗");
  });
});
