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
  /** backend.inferenceWorkers; 0 = 2 on a CPU with two cores or more, else 1 (see above). */
  inferenceWorkers: number;
  /** backend.intraOpThreads; 0 = the cores divided among the workers. */
  intraOpThreads: number;
  /** CPU cores this process may use (cgroup limit included, see cpu-quota.ts). */
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
  // Two by default where there are two cores or more. On a quiet 2-core AMD EPYC, two workers with
  // one thread each ran 1.26x the short texts per second of one worker with two threads, in-process,
  // and 1.2-1.3x through the server from an external client (serving/README.md); each holds its own
  // copy of the model (~90 MB for all-MiniLM-L6-v2 fp32).
  const workers = input.inferenceWorkers > 0 ? input.inferenceWorkers : Math.min(2, cores);
  if (input.intraOpThreads > 0) return { workers, intraOpThreads: input.intraOpThreads };
  // Said explicitly rather than left to ONNX Runtime, which counts the node's cores, not the cgroup's.
  return { workers, intraOpThreads: Math.max(1, Math.floor(cores / workers)) };
}

/**
 * Tokens per batch on the CPU: the configured budget, capped at `cpuCap` (0: no cap) but never below
 * the longest input. Every worker's ONNX Runtime arena keeps the working memory of the largest batch
 * it ran (a 32 x 128-token batch of a MiniLM needs ~200 MB of attention scores and activations), and
 * on the CPU larger batches gain no throughput: one thread ran ~128-token texts as fast at 4 or 8 per
 * batch as at 16, and the 1,024-token default halved the RSS growth of two workers under a flood.
 */
export function cpuBatchTokens(configured: number, cpuCap: number, maxSequenceLength: number): number {
  if (cpuCap <= 0) return configured;
  return Math.min(configured, Math.max(cpuCap, maxSequenceLength));
}
