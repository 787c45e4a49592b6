// `kubectl jude dashboard` started as a user starts it, for the dashboard's integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { EmbeddingModel } from "../../../crds/index.ts";
import { promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";

export interface DashboardProcess {
  readonly plugin: ChildProcess;
  /** The URL the plugin printed, `http://127.0.0.1:<port>/`. */
  readonly url: string;
}

/**
 * Starts `kubectl jude dashboard -n namespace` on a free port with `kubeconfig` and resolves once it
 * printed its URL. Its stderr goes to the test's own, or line by line to `onStderrLine`.
 */
export async function startDashboard(
  namespace: string,
  kubeconfig: string,
  onStderrLine?: (line: string) => void,
): Promise<DashboardProcess> {
  const plugin = spawn(
    process.execPath,
    [
      join(repoRoot, "cli/kubectl-jude.ts"),
      "dashboard",
      "-n",
      namespace,
      "--port",
      "0",
      "--kubeconfig",
      kubeconfig,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", onStderrLine === undefined ? "inherit" : "pipe"] },
  );
  const stderr: string[] = [];
  if (onStderrLine !== undefined)
    createInterface({ input: plugin.stderr! }).on("line", (line) => {
      stderr.push(line);
      onStderrLine(line);
    });
  for await (const line of createInterface({ input: plugin.stdout! })) {
    const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
    if (match !== null) return { plugin, url: match[1]! };
  }
  throw new Error(
    `kubectl jude dashboard exited (${plugin.exitCode}) without printing its URL\n${stderr.join("\n")}`,
  );
}

/** Installs the CRDs, creates `namespace` and applies the promoting model there with its status. */
export async function namespaceWithPromotingModel(namespace: string): Promise<EmbeddingModel> {
  await installCrds("dashboard-test");
  await kubectl(["create", "namespace", namespace]);
  const model = promotingModel();
  await applyWithStatus(model, namespace, model.status);
  return model;
}

/** The minilm EmbeddingModel of `namespace` as the API server holds it now. */
export const heldMinilm = (namespace: string): Promise<EmbeddingModel> =>
  kubectlJson<EmbeddingModel>(["get", "-n", namespace, "embeddingmodel/minilm"]);

/** An RBAC rule that grants `verbs` on the three JUDE kinds. */
export const judeKindsRule = (verbs: string[]) => ({
  apiGroups: ["jude.dev"],
  resources: ["embeddingmodels", "nearlinepipelines", "bootstrapruns"],
  verbs,
});

/** What the dashboard at `url` shows now (its `api/state`), read as `T`. */
export const shownState = async <T>(url: string): Promise<T> =>
  (await (await fetch(`${url}api/state`)).json()) as T;

/** Sends the dashboard at `url` the action `action` (approve, rollback) on the model `model` of `namespace`. */
export const postAction = (
  url: string,
  namespace: string,
  model: string,
  action: string,
  body: object = {},
) =>
  fetch(`${url}api/models/${namespace}/${model}/${action}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** Creates an Event on minilm of `namespace`, as the operator's event recorder writes them, for the timeline. */
export async function createBootstrapStartedEvent(namespace: string): Promise<void> {
  await kubectl(
    ["create", "-n", namespace, "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "minilm.bootstrap-started", namespace },
      involvedObject: { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: "minilm", namespace },
      reason: "BootstrapStarted",
      message: "created BootstrapRun jobs-minilm-v2",
      type: "Normal",
      count: 1,
      firstTimestamp: "2026-12-01T10:01:00Z",
      lastTimestamp: "2026-12-01T10:01:00Z",
      source: { component: "jude-operator" },
    }),
  );
}
