/**
 * Dockerfile.cuda cannot be built here (its base image and ONNX Runtime's CUDA libraries come from the
 * internet), so what it shares with the Dockerfile the image test builds is checked on the text: the
 * same runtime layout, labels, user and entrypoint, the same trimming of onnxruntime-node, and CUDA
 * provider libraries that the build really places.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const read = (name: string): string => readFileSync(join(root, name), "utf8");

/** The instructions of a Dockerfile (continuation lines joined, comments dropped), by stage. */
function stages(text: string): Array<{ from: string; instructions: string[] }> {
  const instructions = text
    .replace(/\\\n(\s*#.*\n)*/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const result: Array<{ from: string; instructions: string[] }> = [];
  for (const instruction of instructions) {
    if (instruction.startsWith("FROM ")) result.push({ from: instruction, instructions: [] });
    else result.at(-1)?.instructions.push(instruction.replace(/\s+/g, " "));
  }
  return result;
}

const cpu = stages(read("Dockerfile"));
const cuda = stages(read("Dockerfile.cuda"));
const buildStage = (all: typeof cpu) => all.find((stage) => stage.from.endsWith(" AS build"))!.instructions;
/** The runtime stage, less what differs by design (where node comes from, the description). */
const runtime = (all: typeof cpu) =>
  all
    .at(-1)!
    .instructions.filter((line) => !line.startsWith("COPY --from=node "))
    .map((line) => line.replace(/org\.opencontainers\.image\.description="[^"]*"/, "description"));

describe("Dockerfile.cuda", () => {
  it("lays out the runtime image like the Dockerfile: files, labels, user, entrypoint", () => {
    expect(runtime(cuda)).toEqual(runtime(cpu));
  });

  it("trims onnxruntime-node to linux/x64 like the Dockerfile", () => {
    const trimmed = (all: typeof cpu) =>
      buildStage(all)
        .join("\n")
        .match(/find node_modules\/onnxruntime-node\/bin\/napi-v\*\/ -mindepth 1 -maxdepth 1 ! -name linux/g);
    expect(trimmed(cpu)).toHaveLength(1);
    expect(trimmed(cuda)).toHaveLength(1);
  });

  it("places ONNX Runtime's CUDA provider libraries, which package.json's allowScripts keeps npm from doing", () => {
    const { allowScripts } = JSON.parse(read("package.json")) as { allowScripts: Record<string, boolean> };
    const build = buildStage(cuda).join("\n");
    // npm ci and npm rebuild both skip the script of a package allowScripts denies (npm 11).
    expect(allowScripts["onnxruntime-node"]).toBe(false);
    expect(build).toContain(
      "cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL_CUDA=v12 node script/install",
    );
    expect(build).toContain(
      "test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so",
    );
  });
});
