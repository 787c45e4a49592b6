/**
 * The `jude` container image, built here with buildah (scripts/build-image.sh, no Docker engine) and
 * checked from the inside: its version, that it runs as the numeric non-root user, and that
 * `jude serve` from the image loads the testbed model and answers gRPC health. buildah's layer cache
 * makes a rebuild with unchanged inputs a no-op, so this costs a full build only when they change.
 */
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { fetchModelContainers } from "../../../controllers/embedding-model/serving-container.ts";
import { httpsModel } from "../../../controllers/embedding-model/test-models.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { freePort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";
import { modelDir, repoRoot } from "../serving/helpers.ts";

const execFileAsync = promisify(execFile);
const tag = "integration-test";
let image = "";
let container = "";

async function buildah(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("buildah", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** Runs a command inside the image (chroot isolation; the host network is shared). */
function inImage(...command: string[]): Promise<string> {
  return buildah("run", "--isolation", "chroot", container, "--", ...command);
}

/** A host folder mounted into a pod at `path`. */
interface PodVolume {
  host: string;
  path: string;
  readOnly?: boolean;
}

// The pod's root: the image's filesystem bound read-only, proc, the host's /dev with a tmpfs /dev/shm,
// a tmpfs /tmp (the emptyDir every rendered pod mounts there), then each volume; mount points are made
// in the container's own layer first, as a container runtime does.
const podScript = `set -e
rootfs=$1 pod=$2; shift 2
for volume in "$@"; do [ "$volume" = -- ] && break; target=\${volume#*:}; mkdir -p "$rootfs\${target%:ro}"; done
mount --bind "$rootfs" "$pod" && mount -o remount,bind,ro "$pod"
mount -t proc proc "$pod/proc" && mount --rbind /dev "$pod/dev"
mount -t tmpfs -o mode=1777 shm "$pod/dev/shm" && mount -t tmpfs -o mode=1777 tmp "$pod/tmp"
while [ "$1" != -- ]; do
  host=\${1%%:*} path=\${1#*:} readonly=false
  case "$path" in *:ro) path=\${path%:ro} readonly=true ;; esac
  mount --bind "$host" "$pod$path"
  if [ "$readonly" = true ]; then mount -o remount,bind,ro "$pod$path"; fi
  shift
done
shift
cd "$pod/app"
exec chroot --userspec=65532:65532 "$pod" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production HOME=/ "$@"`;

/** A command running in a pod; `pid1` is its process (PID 1 of its PID namespace) as the host sees it. */
interface PodProcess {
  pid1(): Promise<number>;
  /** The exit code and the combined output. */
  done: Promise<{ code: number | null; output: string }>;
}

/**
 * Runs a command in the image as the operator's pods run it (restricted security context): PID 1 of
 * its own PID namespace, read-only root filesystem, writable /tmp and /dev/shm, uid and gid 65532, the
 * given volumes. buildah run can do neither the read-only root nor the PID namespace, so the image's
 * filesystem is entered with unshare and chroot (as root, like buildah here).
 */
async function startInPod(volumes: PodVolume[], ...command: string[]): Promise<PodProcess> {
  const rootfs = await buildah("mount", container);
  const pod = await mkdtemp(join(tmpdir(), "jude-pod-"));
  const specs = volumes.map(({ host, path, readOnly }) => `${host}:${path}${readOnly === true ? ":ro" : ""}`);
  const child = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--pid",
      "--fork",
      "bash",
      "-c",
      podScript,
      "pod",
      rootfs,
      pod,
      ...specs,
      "--",
      ...command,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, output })),
  ).finally(() => rm(pod, { recursive: true, force: true }));
  const pid1 = async (): Promise<number> => {
    let pid = 0;
    await waitFor(
      "the pod's command to start",
      async () => {
        const { stdout } = await execFileAsync("pgrep", ["-P", String(child.pid)]).catch(() => ({
          stdout: "",
        }));
        pid = Number(stdout.trim().split("\n")[0]);
        return (
          pid > 0 &&
          (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0")[0] === "node"
        );
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    return pid;
  };
  return { pid1, done };
}

/** Runs a command in a pod (see startInPod) to its end. */
async function inPod(
  volumes: PodVolume[],
  ...command: string[]
): Promise<{ code: number | null; output: string }> {
  return (await startInPod(volumes, ...command)).done;
}

beforeAll(async () => {
  const { stdout } = await execFileAsync("bash", ["scripts/build-image.sh", "--tag", tag], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [name, ...size] = stdout.trim().split("\n").at(-1)!.split(" ");
  image = name!;
  console.error(`image ${image}: ${size.join(" ")}`);
  container = await buildah("from", "--pull-never", image);
}, 1_800_000);

afterAll(async () => {
  if (container !== "") await buildah("rm", container); // unmounts it too
});

it("reports the package version", async () => {
  const { version } = (await import("../../../package.json", { with: { type: "json" } })).default;
  expect(await inImage("jude", "--version")).toBe(`jude ${version}`);
});

it("carries the OCI labels registries and scanners read", async () => {
  const { version } = (await import("../../../package.json", { with: { type: "json" } })).default;
  const inspected = JSON.parse(await buildah("inspect", "--type", "image", image)) as {
    OCIv1: { config: { Labels: Record<string, string> } };
  };
  const labels = inspected.OCIv1.config.Labels;
  expect(labels).toMatchObject({
    "org.opencontainers.image.title": "jude",
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.source": "https://github.com/jude-dev/jude-operator",
    "org.opencontainers.image.licenses": "Apache-2.0",
  });
});

it("runs as the numeric non-root user 65532", async () => {
  expect(await inImage("id", "-u")).toBe("65532");
  expect(await inImage("id", "-g")).toBe("65532");
});

it("holds compiled JavaScript and production dependencies only", async () => {
  expect((await inImage("ls", "/app")).split("\n").sort()).toEqual([
    "dist",
    "node_modules",
    "package.json",
    "serving",
  ]);
  expect(await inImage("find", "/app/dist", "-name", "*.ts", "!", "-name", "*.d.ts")).toBe("");
  // Type declarations and source maps of dependencies (about 60 MB) serve no running process.
  expect(
    await inImage(
      "find",
      "/app/node_modules",
      "-type",
      "f",
      "(",
      "-name",
      "*.d.ts",
      "-o",
      "-name",
      "*.map",
      ")",
    ),
  ).toBe("");
  expect(
    await inImage(
      "test",
      "-x",
      "/app/dist/cli/jude.js",
      "-a",
      "-f",
      "/app/serving/proto/embedding.proto",
      "-a",
      "!",
      "-e",
      "/app/dist/test",
    ),
  ).toBe("");
  const dependencies = (await inImage("ls", "/app/node_modules")).split("\n");
  for (const devOnly of ["vitest", "typescript", "eslint", "prettier"])
    expect(dependencies).not.toContain(devOnly);
  expect(dependencies).toContain("onnxruntime-node");
});

it("fills the model volume from an archive on a read-only root, as the rendered fetch-model init container", async () => {
  const work = await mkdtemp(join(tmpdir(), "jude-image-fetch-"));
  try {
    const artifacts = join(work, "artifacts");
    const models = join(work, "models");
    await mkdir(artifacts);
    await mkdir(models);
    await chmod(models, 0o777); // an emptyDir
    await execFileAsync("tar", [
      "czf",
      join(artifacts, "model.tar.gz"),
      "-C",
      modelDir(),
      "jude-model.json",
      "tokenizer.json",
    ]);
    const sha256 = createHash("sha256")
      .update(await readFile(join(artifacts, "model.tar.gz")))
      .digest("hex");
    const model = httpsModel();
    model.spec.model = { ...model.spec.model, uri: "file:///artifacts/model.tar.gz", sha256 };
    const [fetch] = fetchModelContainers(model, image, undefined);
    expect(fetch!.volumeMounts!.map((mount) => mount.mountPath)).toEqual(["/models"]);

    const { code, output } = await inPod(
      [
        { host: models, path: "/models" },
        { host: artifacts, path: "/artifacts", readOnly: true },
      ],
      "jude",
      ...fetch!.args!,
    );
    expect(code, output).toBe(0);
    expect((await readdir(models)).filter((name) => !name.startsWith(".")).sort()).toEqual([
      "jude-model.json",
      "tokenizer.json",
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}, 120_000);

it("fetch-model as a pod's PID 1 stops on SIGTERM mid-download instead of ignoring it", async () => {
  const models = await mkdtemp(join(tmpdir(), "jude-image-stop-"));
  await chmod(models, 0o777);
  // An artifact server that sends the first kilobyte and then nothing.
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-length": 1_000_000 });
    response.write(Buffer.alloc(1_000));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const pod = await startInPod(
    [{ host: models, path: "/models" }],
    ...["jude", "fetch-model", "--uri", `http://127.0.0.1:${port}/model.onnx`, "--sha256", "a".repeat(64)],
    ...["--dest", "/models/model.onnx", "--extract", "never"],
  );
  const pid1 = await pod.pid1();
  try {
    await waitFor(
      "the first kilobyte in the model volume",
      async () => (await stat(join(models, "model.onnx.partial")).catch(() => undefined))?.size === 1_000,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    process.kill(pid1, "SIGTERM"); // what the container runtime sends, from outside the pod's PID namespace
    const stopped = await Promise.race([pod.done, setTimeout(10_000, undefined)]);
    expect(stopped, "still running 10 s after SIGTERM").toBeDefined();
    expect(stopped!.code, stopped!.output).toBe(75);
  } finally {
    try {
      process.kill(pid1, "SIGKILL");
    } catch {
      // already gone
    }
    await pod.done;
    server.closeAllConnections();
    server.close();
    await rm(models, { recursive: true, force: true });
  }
}, 120_000);

it("serves the testbed model from the image and answers gRPC health", async () => {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const serve = spawn(
    "buildah",
    [
      "run",
      "--isolation",
      "chroot",
      "-v",
      `${modelDir()}:/models:ro`,
      container,
      "--",
      "jude",
      "serve",
      "--model-dir",
      "/models",
      "--host",
      "127.0.0.1",
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = new Promise<number | null>((resolve) => serve.once("exit", resolve));
  const health = new (loadProtos().health)(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  try {
    await waitFor(
      "jude serve in the image to answer SERVING",
      async () => {
        if (serve.exitCode !== null) throw new Error(`jude serve exited with ${serve.exitCode}`);
        const answer = await new Promise<{ status?: string } | ServiceError>((resolve) =>
          health.Check!({ service: "" }, (error: ServiceError | null, response: { status?: string }) =>
            resolve(error ?? response),
          ),
        );
        return "status" in answer && answer.status === "SERVING";
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
  } finally {
    health.close();
    serve.kill("SIGTERM");
    await exited;
  }
}, 240_000);
