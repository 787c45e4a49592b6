/**
 * `kubectl jude` against the testbed's real API server: status of a promotion in progress (gates with
 * their values, a bootstrap progress bar, JSON output), approve and rollback as spec patches, and the
 * clear error a user without access gets. Status is written through the /status subresource, as the
 * operator writes it.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { desiredVersionRecord, recordedSpec } from "../../../controllers/embedding-model/version-record.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { requireEnv } from "../../support/env.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";

const execFileAsync = promisify(execFile);
const namespace = `kubectl-jude-${process.pid}`;

interface PackageJson {
  bin: Record<string, string>;
}

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

beforeAll(async () => {
  await installCrds("kubectl-jude-test");
  await kubectl(["create", "namespace", namespace]);
  for (const object of [promotingModel(), jobsPipeline(), bootstrapOfV2()])
    await applyWithStatus(object, namespace, object.status);
});

afterAll(async () => {
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("kubectl jude on the testbed", () => {
  it("shows a promotion in progress with its gates and a bootstrap progress bar", async () => {
    const { code, stdout } = await plugin(["status", "-n", namespace]);
    expect(code).toBe(0);
    expect(stdout).toContain(`EmbeddingModel ${namespace}/minilm`);
    expect(stdout).toContain("promotion minilm-v1 -> minilm-v2, gates:");
    expect(stdout).toMatch(/… CoverageMet\s+coverage 0\.95 < 0\.99/);
    expect(stdout).toMatch(/jobs-minilm-v2\s+minilm-v2\s+Running\s+\[#{9}-{12}\]\s+42%\s+5040\/12000/);
  });

  it("prints the same view as JSON", async () => {
    const { stdout } = await plugin(["status", "minilm", "-n", namespace, "-o", "json"]);
    const {
      models: [view],
    } = JSON.parse(stdout) as {
      models: Array<{
        activeVersion: string;
        gates: Array<{ type: string; message: string }>;
        conditions: Array<{ type: string; reason?: string }>;
      }>;
    };
    expect(view!.activeVersion).toBe("minilm-v1");
    expect(view!.gates.find((gate) => gate.type === "CaughtUp")?.message).toBe("lag 0.4 s <= 30 s");
    expect(view!.conditions.map((condition) => condition.type)).toContain("Ready");
  });

  it("lists the pipelines naming no model, and runs under no model, in text, JSON and YAML", async () => {
    // `-o json` was the models alone: a pipeline whose spec.modelRef.name has a typo was in the text only.
    const orphan = jobsPipeline();
    orphan.metadata.name = "jobs-typo";
    orphan.spec.modelRef.name = "minlm";
    await applyWithStatus(orphan, namespace, orphan.status);
    // And a BootstrapRun naming a pipeline that does not exist: it was shown nowhere.
    const run = bootstrapOfV2();
    run.metadata.name = "typo-run";
    run.spec.pipelineRef.name = "jbos";
    await applyWithStatus(run, namespace, run.status);
    try {
      const text = await plugin(["status", "-n", namespace]);
      expect(text.stdout).toContain(`  ${namespace}/jobs-typo (model minlm)`);
      expect(text.stdout).toContain(`  ${namespace}/typo-run (pipeline jbos) Running\n`);
      const json = await plugin(["status", "-n", namespace, "-o", "json"]);
      const document = JSON.parse(json.stdout) as {
        models: Array<{ name: string }>;
        unattachedPipelines: Array<{ namespace: string; name: string; modelRef: string }>;
        unattachedBootstrapRuns: Array<{ namespace: string; name: string; pipeline: string }>;
      };
      expect(document.models.map((model) => model.name)).toContain("minilm");
      expect(document.unattachedPipelines).toMatchObject([
        { namespace, name: "jobs-typo", modelRef: "minlm" },
      ]);
      expect(document.unattachedBootstrapRuns).toMatchObject([
        { namespace, name: "typo-run", pipeline: "jbos" },
      ]);
      const yaml = await plugin(["status", "-n", namespace, "-o", "yaml"]);
      expect({ code: yaml.code, document: parseYaml(yaml.stdout) as unknown }).toEqual({ code: 0, document });
    } finally {
      await kubectl(["delete", "-n", namespace, "nearlinepipeline/jobs-typo", "bootstraprun/typo-run"]);
    }
  });

  it("says why a bootstrap run does not progress: pods refused by a quota, as the operator writes it", async () => {
    const message =
      "0% (0 of 12000 records, 0 texts embedded, 0 deduplicated, 0 failed); the API server refuses to create its pods (fix the namespace's quota or policy, or the resource's spec): pods \"jobs-minilm-v2-retry-0\" is forbidden: exceeded quota: compute";
    const run = bootstrapOfV2();
    run.metadata.name = "jobs-minilm-v2-retry";
    const lastTransitionTime = "2026-12-01T10:03:00Z";
    await applyWithStatus(run, namespace, {
      phase: "Running",
      progress: { total: 12000, processed: 0, percent: 0 },
      conditions: [
        { type: "Ready", status: "False", reason: "FailedCreate", message, lastTransitionTime },
        { type: "Stalled", status: "False", reason: "FailedCreate", message: "", lastTransitionTime },
      ],
    });
    try {
      const { stdout } = await plugin(["status", "-n", namespace]);
      expect(stdout).toContain(`    jobs-minilm-v2-retry: ${message}\n`);
      expect(stdout).not.toMatch(/^\s+jobs-minilm-v2: /m);
      const json = await plugin(["status", "minilm", "-n", namespace, "-o", "json"]);
      const {
        models: [view],
      } = JSON.parse(json.stdout) as {
        models: Array<{ bootstraps: Array<{ name: string; message?: string }> }>;
      };
      expect(view!.bootstraps.map((bootstrap) => [bootstrap.name, bootstrap.message])).toEqual([
        ["jobs-minilm-v2", undefined],
        ["jobs-minilm-v2-retry", message],
      ]);
    } finally {
      await kubectl(["delete", "-n", namespace, "bootstraprun/jobs-minilm-v2-retry"]);
    }
  });

  it("approves the manual cutover by setting spec.promotion.approvedVersion", async () => {
    const { code, stdout } = await plugin(["approve", "minilm", "-n", namespace]);
    expect({ code, stdout }).toEqual({
      code: 0,
      stdout: `approved cutover of minilm to minilm-v2\nnext: the operator switches readers to minilm-v2 once every promotion gate passes (3 of 5 pass now); follow it with: kubectl jude status minilm -n ${namespace}\n`,
    });
    const model = await kubectlJson<{ spec: { promotion: { approvedVersion?: string } } }>([
      "get",
      "-n",
      namespace,
      "embeddingmodel/minilm",
    ]);
    expect(model.spec.promotion.approvedVersion).toBe("minilm-v2");
    const again = await plugin(["approve", "minilm", "-n", namespace]);
    expect(again).toMatchObject({ code: 1, stderr: "kubectl jude: minilm-v2 is already approved\n" });
  });

  // Deleted and applied again mid-promotion: the operator has no record of minilm-v1, the version
  // readers use (it lists no phase for it). Approving is still allowed, and says what it gives up.
  it("warns on approve that the version readers use has no record to roll back to", async () => {
    const model = promotingModel();
    model.metadata.name = "reapplied";
    model.status!.versions = model.status!.versions!.filter((entry) => entry.version === "minilm-v2");
    await applyWithStatus(model, namespace, model.status);
    try {
      expect(await plugin(["approve", "reapplied", "-n", namespace])).toMatchObject({
        code: 0,
        stderr:
          "Warning: minilm-v1, the version readers use, has no record in reapplied (the model was deleted and applied again): once minilm-v2 is promoted, reapplied cannot roll back to minilm-v1\n",
        stdout: expect.stringMatching(/^approved cutover of reapplied to minilm-v2\n/),
      });
    } finally {
      await kubectl(["delete", "-n", namespace, "embeddingmodel/reapplied"]);
    }
  });

  it("rolls back to the retained version with the model and prompts the operator recorded for it", async () => {
    const refused = await plugin(["rollback", "minilm", "--to", "minilm-v7", "-n", namespace]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("minilm-v7 is not a retained version of minilm (kept: minilm-v0)");
    // Without the operator's record of v0 the plugin cannot know v0's model: it says so, changes nothing.
    const unrecorded = await plugin(["rollback", "minilm", "--to", "minilm-v0", "-n", namespace]);
    expect(unrecorded.code).toBe(1);
    expect(unrecorded.stderr).toContain("the operator has no record of minilm-v0's model and prompts");
    const fixture = promotingModel();
    const v0Model = {
      ...fixture.spec.model,
      uri: "pvc://models/minilm/fp32.onnx",
      precision: "fp32" as const,
    };
    const record = desiredVersionRecord(fixture, {
      version: "minilm-v0",
      spec: {
        ...recordedSpec(fixture),
        model: v0Model,
        prompts: { job: "Job v0: {{title}}" },
        // The image v0 ran with comes back with it (its pods do not roll into v2's as readers return).
        serving: { ...fixture.spec.serving, image: "registry.example/jude:0.9" },
      },
      promotionStartTime: "2026-10-31T00:00:00Z",
      activatedTime: "2026-11-01T00:00:00Z",
    });
    // The fixture's uids are not the API server's: the owners are the live objects'.
    const { ownerReferences: _owner, labels, ...metadata } = record.metadata!;
    const live = async (kind: string, name: string) =>
      (await kubectlJson<{ metadata: { uid: string } }>(["get", "-n", namespace, `${kind}/${name}`])).metadata
        .uid;
    const ownedBy = (kind: string, name: string, uid: string) => [
      { apiVersion: "jude.dev/v1alpha1", kind, name, uid, controller: true, blockOwnerDeletion: true },
    ];
    const modelUid = await live("embeddingmodel", "minilm");
    // A record of that name and labels that another object owns is not the operator's record of this
    // model's v0 (the operator ignores it): the plugin says it has none, as before it existed.
    await kubectl(
      ["create", "-n", namespace, "-f", "-"],
      JSON.stringify({
        ...record,
        metadata: {
          ...metadata,
          labels,
          namespace,
          ownerReferences: ownedBy(
            "BootstrapRun",
            "jobs-minilm-v2",
            await live("bootstrapruns", "jobs-minilm-v2"),
          ),
        },
      }),
    );
    const foreign = await plugin(["rollback", "minilm", "--to", "minilm-v0", "-n", namespace]);
    expect(foreign.stderr).toContain("the operator has no record of minilm-v0's model and prompts");
    expect(foreign.code).toBe(1);
    await kubectl(["delete", "-n", namespace, `configmap/${metadata.name}`]);
    // The model's own record, its labels removed by hand (`kubectl label configmap ... jude.dev/model-`):
    // read by name, as the operator reads the records of the versions its model names.
    await kubectl(
      ["create", "-n", namespace, "-f", "-"],
      JSON.stringify({
        ...record,
        metadata: { ...metadata, namespace, ownerReferences: ownedBy("EmbeddingModel", "minilm", modelUid) },
      }),
    );
    // minilm-v2 is being promoted: a rollback without --to would abandon it for the active minilm-v1.
    const { code } = await plugin(["rollback", "minilm", "--to", "minilm-v0", "-n", namespace]);
    expect(code).toBe(0);
    const model = await kubectlJson<{
      spec: {
        version: string;
        model: { uri: string; precision: string };
        prompts: Record<string, string>;
        serving: { image?: string };
      };
    }>(["get", "-n", namespace, "embeddingmodel/minilm"]);
    expect(model.spec.serving.image).toBe("registry.example/jude:0.9");
    expect(model.spec.version).toBe("minilm-v0");
    expect(model.spec.model).toMatchObject({ uri: v0Model.uri, precision: "fp32" });
    expect(model.spec.prompts).toEqual({ job: "Job v0: {{title}}" });
  });

  it("completes model names from the namespace and kubeconfig given on the command line", async () => {
    // The real kubectl on PATH, as the completion script calls it; bash runs the completion function.
    const bin = mkdtempSync(join(tmpdir(), "kubectl-jude-bin-"));
    symlinkSync(requireEnv("JUDE_KUBECTL"), join(bin, "kubectl"));
    // completion takes no cluster flags (it refuses them), so not through plugin().
    const { stdout: script } = await execFileAsync(
      process.execPath,
      [join(repoRoot, "cli/kubectl-jude.ts"), "completion", "bash"],
      { cwd: repoRoot },
    );
    const complete = async (...words: string[]) => {
      const { stdout } = await execFileAsync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _kubectl_jude; echo "\${COMPREPLY[*]}"`,
          "bash",
          ...words,
        ],
        { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: "/nonexistent" } },
      );
      return stdout.trim();
    };
    const kubeconfig = requireEnv("KUBECONFIG");
    expect(await complete("kubectl-jude", "approve", "-n", namespace, "--kubeconfig", kubeconfig, "m")).toBe(
      "minilm",
    );
    expect(await complete("kubectl-jude", `--kubeconfig=${kubeconfig}`, "-n", namespace, "status", "")).toBe(
      "minilm",
    );
    // -n=NS is read as kubectl reads it (the plugin itself does, cli/kubectl-jude/flags.ts).
    expect(await complete("kubectl-jude", "status", `-n=${namespace}`, "--kubeconfig", kubeconfig, "m")).toBe(
      "minilm",
    );
    expect(await complete("kubectl-jude", "-n", namespace, "")).toBe(
      "status approve rollback dashboard completion version",
    );
    expect(await complete("kubectl-jude", "rollback", "minilm", "--t")).toBe("--to");
    expect(await complete("kubectl-jude", "completion", "")).toBe("bash zsh");
  });

  it("completes `kubectl jude …` typed to kubectl itself", async () => {
    // kubectl (1.26+) completes a plugin's arguments only through a `kubectl_complete-<plugin>`
    // executable on PATH; both executables are installed as the package's bin does it.
    const bin = mkdtempSync(join(tmpdir(), "kubectl-jude-bin-"));
    symlinkSync(requireEnv("JUDE_KUBECTL"), join(bin, "kubectl"));
    const packageBin = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as PackageJson).bin;
    for (const [name, compiled] of Object.entries(packageBin)) {
      const source = join(repoRoot, compiled.replace(/^dist\//, "").replace(/\.js$/, ".ts"));
      writeFileSync(join(bin, name), `#!/bin/sh\nexec "${process.execPath}" "${source}" "$@"\n`, {
        mode: 0o755,
      });
    }
    const complete = async (...words: string[]) => {
      const { stdout } = await execFileAsync(join(bin, "kubectl"), ["__complete", "jude", ...words], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      return stdout.trim().split("\n");
    };
    expect(await complete("")).toEqual([
      "status",
      "approve",
      "rollback",
      "dashboard",
      "completion",
      "version",
      ":4",
    ]);
    expect(await complete("-n", namespace, "approve", "m")).toEqual(["minilm", ":4"]);
    expect(await complete("status", "-o", "")).toEqual(["text", "json", "yaml", ":4"]);
  });

  it("says a dashboard port is taken instead of dying with a stack trace", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await plugin(["dashboard", "-n", namespace, "--port", String(port)]);
      expect(result).toMatchObject({
        code: 1,
        stderr: `kubectl jude: port ${port} on 127.0.0.1 is in use: pick another with --port N (--port 0 picks a free one)\n`,
      });
    } finally {
      taken.close();
    }
  });

  it("says when no operator has written a model's status yet", async () => {
    // Created as a user applies it; the API server defaults its status (observedGeneration: 0).
    const fresh = promotingModel();
    delete fresh.status;
    fresh.metadata = { name: "fresh" };
    await kubectl(["create", "-n", namespace, "-f", "-"], JSON.stringify(fresh));
    const { code, stdout } = await plugin(["status", "fresh", "-n", namespace]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      `\n  no status yet: the operator has not reconciled it (is it running, and does it watch namespace ${namespace}?)\n`,
    );
    await kubectl(["delete", "-n", namespace, "embeddingmodel/fresh"]);
  });

  it("refuses a name no object can have instead of reading another URL (`approve .` read the list as a model)", async () => {
    // "." and ".." resolve to another path: `approve .` died with a TypeError on the namespace's list,
    // `status -n ..` listed every namespace's models as if they were namespace ".."'s.
    const rollback = await plugin(["rollback", ".", "-n", namespace]);
    expect(rollback).toMatchObject({ code: 1, stdout: "" });
    expect(rollback.stderr).toMatch(
      /^kubectl jude: invalid EmbeddingModel name "\.": an EmbeddingModel's name is lowercase letters, digits and '-' \(no dots\).*\n$/,
    );
    expect(await plugin(["status", "-n", ".."])).toMatchObject({
      code: 1,
      stdout: "",
      stderr: expect.stringMatching(
        /^kubectl jude: invalid namespace "\.\.": a namespace is lowercase letters/,
      ),
    });
    // The client library lower-cases the path: MiniLM would have been minilm's patch.
    const approve = await plugin(["approve", "MiniLM", "-n", namespace]);
    expect(approve).toMatchObject({ code: 1, stdout: "" });
    expect(approve.stderr).toMatch(/^kubectl jude: invalid EmbeddingModel name "MiniLM"/);
    // A subdomain the API server would take, but the CRD refuses dots: no EmbeddingModel has one.
    expect(await plugin(["approve", "minilm.v2", "-n", namespace])).toMatchObject({
      code: 1,
      stdout: "",
      stderr: expect.stringMatching(/^kubectl jude: invalid EmbeddingModel name "minilm\.v2": .*\(no dots\)/),
    });
  });

  it("names a missing model and the user who lacks access", async () => {
    expect(await plugin(["approve", "absent", "-n", namespace])).toMatchObject({
      code: 1,
      stderr: `kubectl jude: EmbeddingModel absent not found in namespace ${namespace}\n`,
    });
    await kubectl(["create", "serviceaccount", "nobody", "-n", namespace]);
    const token = (await kubectl(["create", "token", "nobody", "-n", namespace])).trim();
    const admin = await kubectlJson<{
      clusters: Array<{
        cluster: { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string };
      }>;
    }>(["config", "view", "--raw", "--minify"]);
    const cluster = admin.clusters[0]!.cluster;
    const kubeconfig = join(mkdtempSync(join(tmpdir(), "kubectl-jude-")), "config");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "testbed", cluster }],
        users: [{ name: "nobody", user: { token } }],
        contexts: [{ name: "nobody", context: { cluster: "testbed", user: "nobody", namespace } }],
        "current-context": "nobody",
      }),
    );
    const denied = await plugin(["status"], kubeconfig);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toBe(
      `kubectl jude: access denied: nobody may not list embeddingmodels.jude.dev in namespace ${namespace} (ask for a Role that grants it, such as Kubernetes' view role with the chart's userRoles)\n`,
    );
    // All namespaces: a Role cannot grant that, so the user is not told to ask for one.
    const deniedEverywhere = await plugin(["status", "-A"], kubeconfig);
    expect(deniedEverywhere).toMatchObject({
      code: 1,
      stderr:
        "kubectl jude: access denied: nobody may not list embeddingmodels.jude.dev in all namespaces at once (-A is one cluster-wide request, which a RoleBinding in some namespaces does not grant: bind a ClusterRole such as Kubernetes' view role with the chart's userRoles with a ClusterRoleBinding, or name one namespace with -n)\n",
    });
    // A token the API server does not accept (401) is a credentials problem, not a missing Role.
    const expired = join(mkdtempSync(join(tmpdir(), "kubectl-jude-")), "config");
    writeFileSync(expired, readFileSync(kubeconfig, "utf8").replace(token, "not-a-valid-token"));
    const unauthenticated = await plugin(["status"], expired);
    expect(unauthenticated).toMatchObject({
      code: 1,
      stderr: `kubectl jude: the cluster (${cluster.server}) does not accept the credentials of nobody (401 Unauthorized): the token or certificate in the kubeconfig is invalid or expired; log in again\n`,
    });
  });
});
