/**
 * How many inference workers a server runs and how many ONNX Runtime intra-op threads each gets.
 *
 * On the CPU, one worker whose session uses every core runs each operator in parallel across the
 * cores: every operator ends in a barrier, so a thread preempted by the event loop, the load
 * balancer's health checks or a neighbour on a shared node stalls the whole batch, and the small
 * matrices of short texts parallelise poorly. Two workers with half the cores each run two batches
 * side by side instead (the batcher gives the second one a batch only when the queue fills one), which
 * keeps every core busy under load with the same number of threads. On a GPU the device serialises
 * the batches anyway, so there is one worker.
 */

/** What the config says (0: choose). */
export interface InferencePlanInput {
  executionProvider: "cpu" | "cuda";
  /** backend.inferenceWorkers; 0 = 1 (set 2 or more to run batches side by side, see above). */
  inferenceWorkers: number;
  /** backend.intraOpThreads; 0 = the cores divided among the workers (ONNX Runtime's own choice for one worker). */
  intraOpThreads: number;
  /** CPU cores this process may use. */
  cores: number;
}

/** Workers to start and the intra-op threads of each. */
export interface InferencePlan {
  workers: number;
  intraOpThreads: number;
}

/** Decides the workers and threads. */
export function planInference(input: InferencePlanInput): InferencePlan {
  const cores = Math.max(1, Math.floor(input.cores));
  if (input.executionProvider === "cuda") {
    return { workers: Math.max(1, input.inferenceWorkers), intraOpThreads: input.intraOpThreads };
  }
  // One by default: two workers used less CPU per text under load in most measurements, but their
  // throughput gain was not shown on a quiet machine and they hold a second copy of the model.
  const workers = input.inferenceWorkers > 0 ? input.inferenceWorkers : 1;
  if (input.intraOpThreads > 0 || workers === 1) return { workers, intraOpThreads: input.intraOpThreads };
  return { workers, intraOpThreads: Math.max(1, Math.floor(cores / workers)) };
}

/**
 * Tokens per batch on the CPU: the configured budget, capped at `cpuCap` (0: no cap) but never below
 * the longest input. Every worker's ONNX Runtime arena keeps the working memory of the largest batch
 * it ran (a 32 x 128-token batch of a MiniLM needs ~200 MB of attention scores and activations), and
 * on the CPU batches beyond ~2,000 tokens gain no throughput: the matrices are already large enough.
 */
export function cpuBatchTokens(configured: number, cpuCap: number, maxSequenceLength: number): number {
  if (cpuCap <= 0) return configured;
  return Math.min(configured, Math.max(cpuCap, maxSequenceLength));
}
