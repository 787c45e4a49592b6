import type { ExecutionProviderChoice } from "./onnx-session.ts";
import type { Pooling } from "./pooling.ts";

/** What the inference worker is started with. */
export interface WorkerSettings {
  modelPath: string;
  executionProvider: ExecutionProviderChoice;
  intraOpThreads: number;
  interOpThreads: number;
  allowSpinning: boolean;
  cudaDeviceId: number;
  pooling: Pooling;
  /** Batches run once before the worker reports ready: [batch size, sequence length] each. */
  warmupShapes: ReadonlyArray<readonly [number, number]>;
}

/** Main thread -> worker. */
export type WorkerRequest =
  { type: "embed"; id: number; ids: Int32Array; lengths: Int32Array } | { type: "close" };

/** Worker -> main thread. */
export type WorkerReply =
  | { type: "ready"; executionProvider: "cpu" | "cuda"; dimensions: number }
  | { type: "warning"; message: string }
  | { type: "start-failed"; code: string; message: string }
  | { type: "result"; id: number; vectors: Float32Array; dimensions: number }
  | { type: "failed"; id: number; message: string };
