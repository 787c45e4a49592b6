/**
 * The inference thread. Running ONNX Runtime here keeps the server's event loop free for gRPC,
 * health probes and metrics while a batch computes (the binding's own work around a run, tensor
 * copies and pooling, run on this thread), and lets the next batch be assembled meanwhile.
 */
import { parentPort, workerData } from "node:worker_threads";
import { BackendError } from "./backend-error.ts";
import { splitInputs } from "./batch-tensors.ts";
import { OnnxEmbeddingModel } from "./onnx-model.ts";
import type { WorkerReply, WorkerRequest, WorkerSettings } from "./worker-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("onnx-worker.ts must run as a worker thread");
const settings = workerData as WorkerSettings;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []): void =>
  port.postMessage(message, transfer);

async function start(): Promise<OnnxEmbeddingModel | undefined> {
  try {
    const model = await OnnxEmbeddingModel.open({
      ...settings,
      onWarning: (message) => reply({ type: "warning", message }),
    });
    let dimensions = 0;
    for (const [batch, length] of settings.warmupShapes) {
      const inputs = Array.from({ length: batch }, () => warmupIds(length));
      ({ dimensions } = await model.embed(inputs));
    }
    reply({ type: "ready", executionProvider: model.executionProvider, dimensions });
    return model;
  } catch (error) {
    const code = error instanceof BackendError ? error.code : "MODEL_LOAD_FAILED";
    reply({ type: "start-failed", code, message: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

/** [CLS] a a a … [SEP] in BERT ids; any valid ids do, the point is to run every kernel once. */
function warmupIds(length: number): Int32Array {
  const ids = new Int32Array(length).fill(1037);
  ids[0] = 101;
  ids[length - 1] = 102;
  return ids;
}

const model = await start();
if (model === undefined) {
  port.close();
} else {
  // Batches being run: ONNX Runtime's run is asynchronous (and a CPU batch may run as several
  // sub-batches), so a close request can arrive mid-batch; the session is released only after them,
  // their replies posted (released under a run, the batch was lost and the thread did not exit).
  const running = new Set<Promise<unknown>>();
  port.on("message", (request: WorkerRequest) => {
    if (request.type === "close") {
      void Promise.allSettled(running)
        .then(() => model.release())
        .finally(() => port.close());
      return;
    }
    const batch = model.embed(splitInputs(request.ids, request.lengths)).then(
      ({ vectors, dimensions }) =>
        reply({ type: "result", id: request.id, vectors, dimensions }, [vectors.buffer as ArrayBuffer]),
      (error: unknown) =>
        reply({
          type: "failed",
          id: request.id,
          message: error instanceof Error ? error.message : String(error),
        }),
    );
    running.add(batch);
    void batch.finally(() => running.delete(batch));
  });
}
