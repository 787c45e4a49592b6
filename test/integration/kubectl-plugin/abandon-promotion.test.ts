/**
 * `kubectl jude rollback` while a promotion is in flight, against the testbed's API server and Redis
 * with the EmbeddingModel controller running: it abandons the candidate by writing the active
 * version's record back (version, model, prompts, serving settings), so the active version's pods do
 * not roll, the candidate's objects and run go, and the model settles Ready on the active version.
 * Bootstrap shards and worker lag are played by the test, as in the controllers' promotion tests.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../../cli/kubectl-jude/cluster.ts";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { waitFor } from "../../testbed/wait.ts";
import { startApiFaultProxy } from "../../support/api-fault-proxy.ts";
import { requireEnv } from "../../support/env.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import {
  applyObjects,
  conditionOf,
  promoteThroughBootstrap,
  reportCaughtUp,
  setUpPromotion,
  writeVectors,
  type PromotionSetup,
} from "../controllers/harness.ts";
import { promotionIds, promotionModelAt, versionDigest } from "../controllers/objects.ts";

const execFileAsync = promisify(execFile);

/** Runs the plugin as a user would; resolves its exit code and output. */
async function plugin(args: string[], kubeconfig = requireEnv("KUBECONFIG")) {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [join(repoRoot, "cli/kubectl-jude.ts"), ...args, "--kubeconfig", kubeconfig],
      { cwd: repoRoot },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe("kubectl jude rollback during a promotion", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });
  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const generation = async (resource: string) =>
    ((await getObject(resource, namespace))?.metadata as Json | undefined)?.generation;

  beforeAll(async () => {
    setup = await setUpPromotion("plugin-abandon", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    ({ namespace, store } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("refuses when no promotion is in flight and nothing is retained", async () => {
    expect(await plugin(["rollback", "jobs-model", "--to", "v1", "-n", namespace])).toMatchObject({
      code: 1,
      stderr: "kubectl jude: v1 is already active and spec.version: no promotion to abandon\n",
    });
  });

  it("abandons the candidate: the active version's pods stay, the candidate's objects and run go", async () => {
    const v1Generation = await generation("deployment/jobs-model-v1");
    expect(v1Generation).toBeDefined();
    // v2 is promoted with serving settings of its own (bigger pods); its run is in flight, some of
    // its vectors written.
    const v2 = promotionModelAt("v2");
    (v2.spec as Json).serving = { replicas: 1, resources: { requests: { cpu: "200m", memory: "256Mi" } } };
    await applyObjects(namespace, [v2]);
    const v2Objects = () =>
      Promise.all(
        [
          "deployment/jobs-model-v2",
          "service/jobs-model-v2",
          "configmap/jobs-model-v2-record",
          "bootstraprun/jobs-v2-promotion",
        ].map((resource) => getObject(resource, namespace)),
      );
    await until("v2's Deployment, Service, record and run", async () =>
      (await v2Objects()).every((object) => object !== undefined),
    );
    await writeVectors(store, "v2", `sha256:${versionDigest("v2")}`, promotionIds.slice(0, 4));

    const abandoned = await plugin(["rollback", "jobs-model", "--to", "v1", "-n", namespace]);
    expect(abandoned).toMatchObject({
      code: 0,
      stdout: `abandoning the promotion of jobs-model to v2: spec.version back to the active v1, with its recorded model, prompts and serving settings\nnext: v1 keeps serving readers, its pods unchanged; the operator removes v2's serving pods, nearline workers, BootstrapRun and partial vectors; follow it with: kubectl jude status jobs-model -n ${namespace}\n`,
    });
    const spec = (await model()).spec as Json;
    expect(spec).toMatchObject({
      version: "v1",
      model: (promotionModelAt("v1").spec as Json).model,
      serving: { resources: { requests: { cpu: "100m", memory: "128Mi" } } },
    });

    await until("v2's Deployment, Service, record and run removed", async () =>
      (await v2Objects()).every((object) => object === undefined),
    );
    await until("Ready on v1 for the abandoning generation", async () => {
      const current = await model();
      const status = current.status as Json;
      return (
        status.observedGeneration === (current.metadata as Json).generation &&
        status.activeVersion === "v1" &&
        conditionOf(current, "Ready")?.status === "True"
      );
    });
    await until("v2's partial vectors collected", async () => (await getVersion(store, "v2")) === null);
    expect(await readPointer(store)).toMatchObject({ current: "v1" });
    expect(await generation("deployment/jobs-model-v1"), "v1's Deployment did not roll").toBe(v1Generation);
    // Nothing left to abandon now: asked again, it refuses and changes nothing.
    expect(await plugin(["rollback", "jobs-model", "-n", namespace])).toMatchObject({
      code: 1,
      stderr:
        "kubectl jude: jobs-model has no retained version to roll back to, and no promotion to abandon (v1 is active and spec.version)\n",
    });
  });

  it("writes an abandon only onto the object it was decided on", async () => {
    // Had the candidate become active between the read and the patch, the same spec would be a
    // rollback moving readers: the patch carries the read's resourceVersion, and the plugin decides again.
    const cluster = new Cluster({ kubeconfig: requireEnv("KUBECONFIG") });
    const read = await cluster.readModel(namespace, "jobs-model");
    await kubectl(["annotate", "-n", namespace, "embeddingmodel/jobs-model", "example.com/touched=yes"]);
    const stale = read.metadata.resourceVersion;
    expect(await cluster.patchModelSpec(namespace, "jobs-model", { version: "v9" }, stale)).toBe(false);
    expect(((await model()).spec as Json).version).toBe("v1");
  });

  // etcd's "request timed out" reaches the client as 500 ServerTimeout with Retry-After although the
  // write may have been committed; the plugin sends it again, as kubectl does. The conditional abandon
  // then meets its own change (409) and was decided again on the abandoned spec: a rollback to the
  // draining v4, readers moved off v5, which nobody asked for.
  it("abandons once when the API server applied the patch but its answer was lost", async () => {
    // The earlier abandon's fields are the plugin's: the test's manager takes them back.
    await kubectl(
      [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=jude-test-user",
        "-n",
        namespace,
        "-f",
        "-",
      ],
      JSON.stringify(promotionModelAt("v4")),
    );
    await promoteThroughBootstrap(setup!, "v4", ["v1", "v4"]);
    await promoteThroughBootstrap(setup!, "v5", ["v4", "v5"]);
    await applyObjects(namespace, [promotionModelAt("v6")]);
    await until(
      "v6's run",
      async () => (await getObject("bootstraprun/jobs-v6-promotion", namespace)) !== undefined,
    );
    const proxy = await startApiFaultProxy(requireEnv("KUBECONFIG"));
    try {
      let lost = 0;
      proxy.setRule(({ method, path }) =>
        method === "PATCH" && path.endsWith("/embeddingmodels/jobs-model") && lost++ === 0
          ? {
              status: 500,
              reason: "ServerTimeout",
              headers: { "retry-after": "1" },
              afterForwarding: true,
            }
          : undefined,
      );
      const abandoned = await plugin(["rollback", "jobs-model", "-n", namespace], proxy.kubeconfigPath);
      expect(((await model()).spec as Json).version, "the spec stays on the active v5").toBe("v5");
      expect(abandoned).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /^abandoning the promotion of jobs-model to v6: spec.version back to the active v5/,
        ),
      });
      expect(
        proxy.requests.filter((request) => request.injected),
        "one answer lost",
      ).toHaveLength(1);
    } finally {
      await proxy.close();
    }
    await until("Ready on v5", async () => {
      const current = await model();
      return (
        (current.status as Json).activeVersion === "v5" && conditionOf(current, "Ready")?.status === "True"
      );
    });
    expect(await readPointer(store)).toMatchObject({ current: "v5" });
  });
  // A rollback to a retained version waits for its workers to catch up: abandoning it leaves that
  // version retained, its vectors kept for a later rollback. The plugin said the operator would remove
  // its "BootstrapRun and partial vectors", which would tell a user the retained version is gone.
  it("abandons a rollback in flight without claiming the retained version's vectors go", async () => {
    const forced = (version: string, promotion: Json = {}) =>
      kubectl(
        [
          "apply",
          "--server-side",
          "--force-conflicts",
          "--field-manager=jude-test-user",
          "-n",
          namespace,
          "-f",
          "-",
        ],
        JSON.stringify(promotionModelAt(version, promotion)),
      );
    // v4 past its bake: Retained, its workers stopped and no longer reporting.
    await forced("v5", { bakeSeconds: 0 });
    await reportCaughtUp(namespace, "jobs", ["v5"]);
    await until("v4 retained", async () =>
      ((await model()).status as { versions?: Json[] }).versions!.some(
        (entry) => entry.version === "v4" && entry.phase === "Retained",
      ),
    );
    await forced("v4", { bakeSeconds: 0 });
    await until("the rollback to v4 waits for its workers", async () =>
      ((await model()).status as { versions?: Json[] }).versions!.some(
        (entry) => entry.version === "v4" && entry.phase === "CatchingUp",
      ),
    );
    // The same command run again while the rollback waits must not undo it: abandoning it names v5.
    const again = await plugin(["rollback", "jobs-model", "-n", namespace]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already rolling back to v4 .* --to v5/);
    expect(((await model()).spec as Json).version).toBe("v4");
    const abandoned = await plugin(["rollback", "jobs-model", "--to", "v5", "-n", namespace]);
    expect(abandoned.code).toBe(0);
    expect(((await model()).spec as Json).version).toBe("v5");
    await until("v4 retained again", async () =>
      ((await model()).status as { versions?: Json[] }).versions!.some(
        (entry) => entry.version === "v4" && entry.phase === "Retained",
      ),
    );
    expect((await getVersion(store, "v4"))?.state).toBe("complete");
    expect(abandoned.stdout).not.toMatch(/partial vectors/);
    expect(abandoned.stdout).toMatch(/v4's vectors stay/);
  });
});
