/**
 * A local pod run from the built `jude` image's filesystem instead of the checkout (annotation
 * `testbed.jude.dev/run-from: image`): `jude serve` from the image, with its config, token and the
 * testbed model mounted as volumes, becomes Ready through its real gRPC health probe, answers a client
 * pod through its Service, and drains on SIGTERM when scaled away. The image comes from
 * scripts/build-image.sh under the tag image.test.ts uses, so buildah's layer cache serves both.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { requireEnv } from "../../../support/env.ts";
import { runFromAnnotation } from "../../../testbed/local-nodes/image-config.ts";
import { repoRoot } from "../../../testbed/paths.ts";
import { apply, eventually, isReady, pidOf, pods, type Pod } from "./helpers.ts";
import { embedderDeployment, loopingClient, modelVolume, servingConfig } from "./serving-manifests.ts";
import {
  clientFirstEmbedding,
  expectStoppedOnSigterm,
  serverLogLines,
  stopClient,
  withServingScenario,
} from "./serving-scenario.ts";

const execFileAsync = promisify(execFile);
const namespace = `local-image-${process.pid}`;
const token = `token-${process.pid}`;
const controlDir = mkdtempSync(join(tmpdir(), "jude-local-image-"));
let image = "";

/** The serving Deployment (1 replica) of serving-manifests.ts, its pods run from `image`. */
function fromImage(objects: object[]): object[] {
  return objects.map((object) => {
    const deployment = object as {
      kind: string;
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: { image: string }[]; securityContext?: { fsGroup: number } };
        };
      };
    };
    if (deployment.kind !== "Deployment") return object;
    const template = deployment.spec.template;
    template.metadata.annotations[runFromAnnotation] = "image";
    for (const container of template.spec.containers) container.image = image;
    // As the operator renders it: the image's user reads its 0400 token through the pod's fsGroup.
    template.spec.securityContext = { fsGroup: 65532 };
    return object;
  });
}

const embedders = async (): Promise<Pod[]> => pods(namespace, "app=embedder");
const serverLog = (pod: string): Record<string, unknown>[] => serverLogLines(namespace, pod);

describe("local nodes run a pod from the built image's filesystem", () => {
  withServingScenario(namespace, controlDir);
  beforeAll(async () => {
    const { stdout } = await execFileAsync("bash", ["scripts/build-image.sh", "--tag", "integration-test"], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    image = stdout.trim().split("\n").at(-1)!.split(" ")[0]!;
    await apply(
      ...modelVolume(namespace, requireEnv("JUDE_MODEL_DIR")),
      ...servingConfig(namespace, token),
      ...fromImage(embedderDeployment(namespace, 1, "v1")),
    );
  }, 1_800_000);

  it("becomes Ready through the gRPC health probe with a process whose root is the image", async () => {
    await eventually("a ready embedder", async () => (await embedders()).some(isReady));
    const [pod] = await embedders();
    const status = pod!.status.containerStatuses![0]!;
    expect(status.image).toBe(image);
    const pid = pidOf(status)!;
    // The process sees the image's filesystem: its /app, not the checkout the launcher would mount.
    expect(existsSync(`/proc/${pid}/root/app/dist/cli/jude.js`)).toBe(true);
    expect(existsSync(`/proc/${pid}/root/.jude-testbed`)).toBe(false);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain("serve\0--config\0/etc/jude/config.yaml");
    // The image's USER and WORKDIR, and the volumes at their mountPaths inside that root.
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+65532\s/m);
    expect(readFileSync(`/proc/${pid}/root/run/jude/auth/token`, "utf8")).toBe(token);
    const tokenFile = statSync(`/proc/${pid}/root/run/jude/auth/token`);
    expect([tokenFile.gid, tokenFile.mode & 0o777]).toEqual([65532, 0o440]);
    expect(existsSync(`/proc/${pid}/root/models/minilm/tokenizer.json`)).toBe(true);
    expect(
      serverLog(pod!.metadata.name).some((line) => line.msg === "model loaded and warmed up; serving"),
    ).toBe(true);
  });

  it("answers a client in another pod through the Service name", async () => {
    await apply(loopingClient(namespace, controlDir));
    await clientFirstEmbedding(namespace);
    const summary = await stopClient(namespace, controlDir);
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  });

  it("drains on SIGTERM when the pod is deleted", async () => {
    const [pod] = await embedders();
    const pid = pidOf(pod!.status.containerStatuses![0])!;
    await kubectl(["scale", "deployment", "embedder", "-n", namespace, "--replicas=0"]);
    await eventually("the pod to be gone", async () => (await embedders()).length === 0);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expectStoppedOnSigterm(namespace, pod!.metadata.name);
  });

  it("names an image missing from this machine's image store in the waiting reason", async () => {
    const missing = `${image.split(":")[0]}:not-built-${process.pid}`;
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "missing", namespace, annotations: { [runFromAnnotation]: "image" } },
      spec: {
        ...(loopingClient(namespace, controlDir) as { spec: object }).spec,
        containers: [{ name: "main", image: missing, args: ["--version"] }],
        volumes: [],
      },
    });
    await eventually("the waiting reason", async () => {
      const pod = await kubectlJson<Pod>(["get", "pod", "missing", "-n", namespace]);
      const waiting = pod.status.containerStatuses?.[0]?.state.waiting;
      return waiting?.reason === "ErrImageNotRunnableLocally" && waiting.message?.includes(missing) === true;
    });
  });
});
