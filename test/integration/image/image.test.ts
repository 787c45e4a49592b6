/**
 * The `jude` container image, built here with buildah (scripts/build-image.sh, no Docker engine) and
 * checked from the inside: its version, that it runs as the numeric non-root user, and that
 * `jude serve` from the image loads the testbed model and answers gRPC health. buildah's layer cache
 * makes a rebuild with unchanged inputs a no-op, so this costs a full build only when they change.
 */
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
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
  if (container !== "") await buildah("rm", container);
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
