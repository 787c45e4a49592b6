// Before onnxruntime-node loads: no ONNX Runtime telemetry (see ort-telemetry.ts).
import "./ort-telemetry.ts";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { InferenceSession } from "onnxruntime-node";
import { BackendError } from "./backend-error.ts";

/** Which ONNX Runtime execution provider to run on. */
export type ExecutionProviderChoice = "cpu" | "cuda" | "auto";

/** Options of one ONNX Runtime session. */
export interface SessionSettings {
  modelPath: string;
  executionProvider: ExecutionProviderChoice;
  /** Threads for one operator; 0 lets ONNX Runtime use one per physical core. */
  intraOpThreads: number;
  interOpThreads: number;
  /**
   * Let idle ONNX Runtime threads spin waiting for work. Off by default: spinning threads take CPU
   * from the event loop that answers gRPC while a batch runs, and on a shared or oversubscribed node
   * they slow inference itself.
   */
  allowSpinning?: boolean;
  cudaDeviceId: number;
  /** Called with a message when `auto` falls back to the CPU. */
  onWarning?: (message: string) => void;
}

/** A session and the provider it actually runs on. */
export interface OpenedSession {
  session: InferenceSession;
  executionProvider: "cpu" | "cuda";
}

const CUDA_LIBRARY = "libonnxruntime_providers_cuda.so";

/**
 * Whether this onnxruntime-node installation can use CUDA. The npm package ships CPU binaries only;
 * its install script downloads the CUDA provider libraries, which needs network access at install
 * time. Checking for the library first gives a message that says exactly that, instead of ONNX
 * Runtime's "Failed to load shared library".
 */
export function cudaAvailability(): { available: true } | { available: false; reason: string } {
  if (process.platform !== "linux") {
    return { available: false, reason: `onnxruntime-node has no CUDA build for ${process.platform}` };
  }
  const packageDir = dirname(dirname(createRequire(import.meta.url).resolve("onnxruntime-node")));
  const binDir = join(packageDir, "bin");
  const candidates = existsSync(binDir)
    ? readdirSync(binDir).map((napi) => join(binDir, napi, "linux", process.arch, CUDA_LIBRARY))
    : [];
  if (candidates.some((path) => existsSync(path))) return { available: true };
  return {
    available: false,
    reason:
      `${CUDA_LIBRARY} is not installed next to onnxruntime-node (looked in ${join(binDir, "*", "linux", process.arch)}); ` +
      "install onnxruntime-node with its CUDA binaries (its install script fetches them: ONNXRUNTIME_NODE_INSTALL_CUDA=v12) " +
      "and run on a host with an NVIDIA driver, or choose executionProvider cpu or auto",
  };
}

/**
 * Opens one ONNX Runtime session. `cuda` fails with CUDA_UNAVAILABLE when CUDA cannot be used;
 * `auto` tries CUDA and falls back to the CPU with a warning.
 */
export async function openSession(settings: SessionSettings): Promise<OpenedSession> {
  if (settings.executionProvider === "cpu")
    return { session: await create(settings, "cpu"), executionProvider: "cpu" };
  const cuda = cudaAvailability();
  let cudaFailure: string;
  if (cuda.available) {
    try {
      return { session: await create(settings, "cuda"), executionProvider: "cuda" };
    } catch (error) {
      if (settings.executionProvider === "cuda") {
        throw new BackendError(
          "CUDA_UNAVAILABLE",
          `CUDA execution provider failed to start: ${messageOf(error)}`,
          {
            cause: error,
          },
        );
      }
      cudaFailure = messageOf(error);
    }
  } else if (settings.executionProvider === "cuda") {
    throw new BackendError("CUDA_UNAVAILABLE", `CUDA execution provider is not available: ${cuda.reason}`);
  } else {
    cudaFailure = cuda.reason;
  }
  settings.onWarning?.(`executionProvider auto: CUDA is not usable (${cudaFailure}); running on the CPU`);
  return { session: await create(settings, "cpu"), executionProvider: "cpu" };
}

async function create(settings: SessionSettings, provider: "cpu" | "cuda"): Promise<InferenceSession> {
  const executionProviders: InferenceSession.ExecutionProviderConfig[] =
    provider === "cuda" ? [{ name: "cuda", deviceId: settings.cudaDeviceId }, "cpu"] : ["cpu"];
  try {
    return await InferenceSession.create(settings.modelPath, {
      executionProviders,
      graphOptimizationLevel: "all",
      // One batch runs at a time (see the batcher), so parallelism comes from intra-op threads alone.
      executionMode: "sequential",
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: settings.interOpThreads,
      logSeverityLevel: 3,
      extra: {
        session: {
          intra_op: { allow_spinning: settings.allowSpinning ? "1" : "0" },
          inter_op: { allow_spinning: settings.allowSpinning ? "1" : "0" },
        },
      },
    });
  } catch (error) {
    if (provider === "cuda") throw error;
    throw new BackendError("MODEL_LOAD_FAILED", `cannot load ${settings.modelPath}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
