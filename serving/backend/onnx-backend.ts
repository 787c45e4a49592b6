// Before onnxruntime-node loads: no ONNX Runtime telemetry (see ort-telemetry.ts).
import "./ort-telemetry.ts";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { EmbeddingBackend, InferenceWorkerCounts } from "../core/backend.ts";
import { BackendError, type BackendErrorCode } from "./backend-error.ts";
import { concatInputs } from "./batch-tensors.ts";
import type { WorkerReply, WorkerRequest, WorkerSettings } from "./worker-protocol.ts";

/** Options of the ONNX Runtime backend. */
export interface OnnxBackendOptions extends WorkerSettings {
  /** The configured width; a model that produces another width is refused at start. */
  expectedDimensions: number;
  onWarning?: (message: string) => void;
  /** Called once if the inference worker dies after start (not on `close`). */
  onFailure?: (error: Error) => void;
  /** How long `close` waits for an idle worker to exit before terminating it (default 5 s). */
  closeTimeoutMs?: number;
}

/** How long a closing worker gets to release its session and exit before it is terminated. */
const CLOSE_TIMEOUT_MS = 5_000;

interface Pending {
  resolve(vectors: Float32Array): void;
  reject(error: Error): void;
}

// The worker is a sibling module; take the extension from this file so the same code runs from the
// TypeScript sources and from a compiled build.
const workerUrl = new URL(`./onnx-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * ONNX Runtime behind a worker thread. `start` resolves once the model is loaded and warmed up, so a
 * server that awaits it can report SERVING knowing the first real call will not pay for the warm-up.
 */
export class OnnxBackend implements EmbeddingBackend {
  readonly dimensions: number;
  readonly executionProvider: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #failure: Error | undefined;
  /** Set by `close` on a worker that had not died: it leaves the counts instead of turning dead. */
  #closed = false;
  readonly #onFailure: ((error: Error) => void) | undefined;
  readonly #onWarning: ((message: string) => void) | undefined;
  readonly #closeTimeoutMs: number;

  private constructor(
    worker: Worker,
    dimensions: number,
    executionProvider: string,
    options: Pick<OnnxBackendOptions, "onFailure" | "onWarning" | "closeTimeoutMs">,
  ) {
    this.#worker = worker;
    this.#onFailure = options.onFailure;
    this.#onWarning = options.onWarning;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    this.dimensions = dimensions;
    this.executionProvider = executionProvider;
    worker.on("message", (message: WorkerReply) => this.#onMessage(message));
    worker.on("error", (error) =>
      this.#fail(new BackendError("WORKER_FAILED", "inference worker crashed", { cause: error })),
    );
    worker.on("exit", (code) =>
      this.#fail(new BackendError("WORKER_FAILED", `inference worker exited with code ${code}`)),
    );
  }

  /** Starts the worker, loads and warms up the model. */
  static start(options: OnnxBackendOptions): Promise<OnnxBackend> {
    const { expectedDimensions, onWarning, onFailure, closeTimeoutMs, ...settings } = options;
    const worker = new Worker(workerUrl, { workerData: settings });
    return new Promise((resolve, reject) => {
      // Only our own listeners are removed: Worker keeps internal ones (removeAllListeners breaks it).
      const detach = (): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const failStart = (error: Error): void => {
        detach();
        void worker.terminate();
        reject(error);
      };
      const onError = (error: Error): void =>
        failStart(new BackendError("WORKER_FAILED", "inference worker crashed", { cause: error }));
      const onExit = (code: number): void =>
        failStart(new BackendError("WORKER_FAILED", `inference worker exited with code ${code}`));
      const onMessage = (message: WorkerReply): void => {
        if (message.type === "warning") onWarning?.(message.message);
        else if (message.type === "start-failed") {
          failStart(new BackendError(message.code as BackendErrorCode, message.message));
        } else if (message.type === "ready" && message.dimensions !== expectedDimensions) {
          failStart(
            new BackendError(
              "MODEL_UNSUPPORTED",
              `model produces ${message.dimensions}-dimensional vectors but the config says ${expectedDimensions}`,
            ),
          );
        } else if (message.type === "ready") {
          detach();
          resolve(
            new OnnxBackend(worker, message.dimensions, message.executionProvider, {
              onFailure,
              onWarning,
              closeTimeoutMs,
            }),
          );
        }
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
  }

  /** True once the worker died (or the backend was closed): every batch is refused. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Its one worker: live until it dies, then dead; closed, it counts in neither. */
  get inferenceWorkers(): InferenceWorkerCounts {
    if (this.#closed) return { live: 0, dead: 0 };
    return this.#failure === undefined ? { live: 1, dead: 0 } : { live: 0, dead: 1 };
  }

  embed(inputs: readonly Int32Array[]): Promise<Float32Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const { ids, lengths } = concatInputs(inputs);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: WorkerRequest = { type: "embed", id, ids, lengths };
      this.#worker.postMessage(request, [ids.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer]);
    });
  }

  /**
   * Asks the worker to release its session and exit. The worker takes the request once the batch it
   * runs (if any) is done. A worker still there after `closeTimeoutMs` is terminated when it runs no
   * batch; one still running a batch is waited for: terminating a thread inside an ONNX Runtime run
   * aborts the whole process (SIGABRT, no exit code, no last log), and a run ends on its own (a pod
   * whose run outlasts its grace period is killed by Kubernetes all the same).
   */
  async close(): Promise<void> {
    if (this.#failure !== undefined) return;
    this.#closed = true;
    this.#failure = new BackendError("WORKER_FAILED", "the backend is closed");
    const exited = new Promise<true>((resolve) => this.#worker.once("exit", () => resolve(true)));
    const request: WorkerRequest = { type: "close" };
    this.#worker.postMessage(request);
    const late = new Promise<false>((resolve) =>
      setTimeout(() => resolve(false), this.#closeTimeoutMs).unref(),
    );
    if (await Promise.race([exited, late])) return;
    if (this.#pending.size > 0) {
      this.#onWarning?.(
        "the inference worker is still running a batch; waiting for it to end before the worker exits",
      );
      await exited;
      return;
    }
    await this.#worker.terminate();
  }

  #onMessage(message: WorkerReply): void {
    if (message.type !== "result" && message.type !== "failed") return;
    const pending = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    if (message.type === "result") pending?.resolve(message.vectors);
    else pending?.reject(new Error(message.message));
  }

  #fail(error: Error): void {
    if (this.#failure === undefined) {
      this.#failure = error;
      this.#onFailure?.(error);
    }
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
