import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadServeConfig, serveFlagPaths, serveUsage } from "./cli-options.ts";
import { ConfigError, mergeConfig, parseServingConfig } from "./config.ts";

describe("parseServingConfig", () => {
  it("fills every default from a minimal config", () => {
    const config = parseServingConfig({ modelDir: "/models/v1" });
    expect(config).toMatchObject({
      model: { precision: "fp32" },
      prompts: {},
      batching: { maxBatchTokens: 16_384, maxBatchSize: 32, maxQueueDelayMs: 2, maxConcurrentRequests: 512 },
      limits: { maxInputsPerCall: 128, maxMessageBytes: 4 * 1024 * 1024 },
      backend: { executionProvider: "auto", intraOpThreads: 0, interOpThreads: 1 },
      listen: { host: "0.0.0.0", grpcPort: 50_051, httpPort: 8_080 },
      drainTimeoutMs: 25_000,
    });
  });

  it("lists every problem with its path", () => {
    const attempt = () =>
      parseServingConfig({
        modelDir: "",
        batching: { maxBatchSize: 0 },
        backend: { executionProvider: "tpu" },
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/modelDir[\s\S]*batching\.maxBatchSize[\s\S]*backend\.executionProvider/);
  });

  it("refuses more inputs per call than there are permits", () => {
    expect(() =>
      parseServingConfig({
        modelDir: "/m",
        limits: { maxInputsPerCall: 64 },
        batching: { maxConcurrentRequests: 32 },
      }),
    ).toThrow(/maxInputsPerCall must not exceed batching.maxConcurrentRequests/);
  });

  it("validates prompt names and digests", () => {
    expect(() => parseServingConfig({ modelDir: "/m", prompts: { "bad name": "x" } })).toThrow(/prompts/);
    expect(() => parseServingConfig({ modelDir: "/m", model: { digest: "md5:abc" } })).toThrow(
      /model\.digest/,
    );
  });
});

describe("mergeConfig", () => {
  it("merges nested objects with later sources winning and skips undefined", () => {
    expect(mergeConfig({ a: { b: 1, c: 2 }, d: [1] }, { a: { c: 3 }, d: [2], e: undefined })).toEqual({
      a: { b: 1, c: 3 },
      d: [2],
    });
  });
});

describe("loadServeConfig (flags > environment > file > defaults)", () => {
  it("layers the sources", async () => {
    const directory = await mkdtemp(join(tmpdir(), "jude-serve-config-"));
    const file = join(directory, "serving.yaml");
    await writeFile(
      file,
      "modelDir: /from/file\nbatching:\n  maxBatchSize: 8\n  maxBatchTokens: 4096\nprompts:\n  query: 'query: '\n",
    );
    const config = await loadServeConfig(
      ["--config", file, "--max-batch-size", "16", "--prompt", "job=Job: {{text}}"],
      {
        JUDE_SERVING_MAX_BATCH_SIZE: "12",
        JUDE_SERVING_GRPC_PORT: "6000",
        JUDE_MODEL_DIR: "/from/env",
      },
    );
    expect(config.modelDir).toBe("/from/env");
    expect(config.batching).toMatchObject({ maxBatchSize: 16, maxBatchTokens: 4096 });
    expect(config.listen.grpcPort).toBe(6000);
    // --prompt adds to the prompts of the file.
    expect(config.prompts).toEqual({ query: "query: ", job: "Job: {{text}}" });
  });

  it("explains bad flags", async () => {
    await expect(loadServeConfig(["--model-dir", "/m", "--grpc-port", "many"], {})).rejects.toThrow(
      '--grpc-port must be a number, got "many"',
    );
    await expect(loadServeConfig(["--model-dir", "/m", "--bogus"], {})).rejects.toThrow(ConfigError);
    await expect(loadServeConfig(["--model-dir", "/m", "--prompt", "novalue"], {})).rejects.toThrow(
      /name=template/,
    );
  });
});

describe("serveUsage", () => {
  it("shows each flag's default, the one the parser fills in: the flag given it changes nothing", async () => {
    const defaults = await loadServeConfig(["--model-dir=/m"], {});
    const at = (config: unknown, path: string) =>
      path
        .split(".")
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
    const flagLines = serveUsage()
      .split("\n")
      .filter((line) => /^ {2}--[a-z]/.test(line) && !/^ {2}--(config|prompt) /.test(line));
    // In the order of the table the parser reads, which serveFlagPaths lists.
    const paths = serveFlagPaths();
    expect(flagLines).toHaveLength(paths.length);
    for (const [index, line] of flagLines.entries()) {
      const [, flag, shown, unset] = /^ {2}--(\S+) .* \((?:default ([^:()]+)|default: (.+)|required)\)$/.exec(
        line,
      )!;
      const path = paths[index]!;
      if (shown !== undefined) {
        const text = shown.startsWith('"') ? (JSON.parse(shown) as string) : shown;
        expect(await loadServeConfig(["--model-dir=/m", `--${flag}=${text}`], {}), line).toEqual(defaults);
      } else if (unset === undefined) {
        // (required): nothing to fall back on.
        expect(path).toBe("modelDir");
        await expect(loadServeConfig([], {})).rejects.toThrow(/modelDir/);
      } else if (flag === "max-inputs-per-call") {
        // Derived: 128, or max-concurrent-requests when smaller.
        expect(unset).toBe("128, or max-concurrent-requests when smaller");
        expect(at(defaults, path)).toBe(128);
        const fewer = await loadServeConfig(["--model-dir=/m", "--max-concurrent-requests=64"], {});
        expect(at(fewer, path)).toBe(64);
      } else {
        // What absence stands for is decided elsewhere (the manifest, the environment): the config has none.
        expect(at(defaults, path), line).toBeUndefined();
      }
    }
    expect(serveUsage()).toMatch(/--grpc-port +gRPC port \(0 = any free port\) \(default 50051\)\n/);
  });
});
