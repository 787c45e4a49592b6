// The workers' figures of each pipeline version, read at most once per poll period. A busy worker's
// figures change between any two reads, and the pipeline's status carries them: read afresh on every
// reconcile, each status write woke the pipeline (its own event, its siblings' and its model's
// watches) into a reconcile that read new figures and wrote again, as fast as a reconcile runs
// (measured: 396 reconciles and status writes in 10 s for one busy pipeline). Reconciles woken by
// events in between reuse the last sample, so they write nothing new; the poll reads fresh ones.
import { lagPendingPollMs } from "./caught-up.ts";
import type { WorkerFigures } from "./worker-figures.ts";

interface Sample {
  /** When the read began. */
  atMs: number;
  /** The pods read (name, IP, phase, marked for deletion): a changed set of pods is read again at once. */
  pods: string;
  figures: WorkerFigures[];
}

/** Remembers the last figures read per pipeline version. */
export class FiguresSampler {
  readonly #samples = new Map<string, Sample>();
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  /**
   * `periodMs` is the poll period; a sample is reused until 1 s before it ends, so the poll itself
   * (requeued after a reconcile that began after the sample) always reads again.
   */
  constructor(periodMs: number, now: () => number = Date.now) {
    this.#maxAgeMs = Math.max(0, periodMs - 1_000);
    this.#now = now;
  }

  /** The figures of `version` of the pipeline `pipelineKey` from `pods`: the last sample, or `read()`. */
  async figures(
    pipelineKey: string,
    version: string,
    pods: string,
    read: () => Promise<WorkerFigures[]>,
  ): Promise<WorkerFigures[]> {
    const key = `${pipelineKey} ${version}`;
    const startedMs = this.#now();
    const last = this.#samples.get(key);
    // A sample in which a worker owes its lag figure is reused for 1 s only: the pipeline reads again
    // every 2 s until it is reported (./caught-up.ts, lagPendingPollMs), and a promotion waits on it.
    const maxAgeMs = last?.figures.some((worker) => worker.lag === undefined)
      ? Math.min(this.#maxAgeMs, lagPendingPollMs - 1_000)
      : this.#maxAgeMs;
    if (last !== undefined && last.pods === pods && startedMs - last.atMs < maxAgeMs) return last.figures;
    const figures = await read();
    this.#samples.set(key, { atMs: startedMs, pods, figures });
    return figures;
  }

  /** Forgets every version of a pipeline (deleted), or the versions not in `live`. */
  forget(pipelineKey: string, live: readonly string[] = []): void {
    for (const key of this.#samples.keys()) {
      const [owner, version] = key.split(" ");
      if (owner === pipelineKey && !live.includes(version!)) this.#samples.delete(key);
    }
  }
}
