// Pipeline throughput for the dashboard. The NearlinePipeline status carries counters (events
// processed since the workers started), not rates, so the dashboard derives events/s from how the
// counter moved between the status updates it watched, over a sliding window.

interface Sample {
  timeMs: number;
  processed: number;
}

/** Events per second per (pipeline, version) from successive counter readings. */
export class ThroughputTracker {
  readonly #samples = new Map<string, Sample[]>();
  readonly #windowMs: number;

  /** `windowMs`: how far back the rate looks (default one minute). */
  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }

  /** Records a counter reading; a counter that went down (workers restarted) starts afresh. */
  record(key: string, processed: number, timeMs: number): void {
    const samples = this.#samples.get(key) ?? [];
    const last = samples.at(-1);
    if (last !== undefined && processed < last.processed) samples.length = 0;
    if (last !== undefined && last.processed === processed && samples.length > 1) {
      // An unchanged counter only moves the window's end forward: keep the first reading of a plateau.
      const previous = samples.at(-2);
      if (previous !== undefined && previous.processed === processed) samples.pop();
    }
    samples.push({ timeMs, processed });
    while (samples.length > 2 && timeMs - (samples[1]?.timeMs ?? timeMs) >= this.#windowMs) samples.shift();
    this.#samples.set(key, samples);
  }

  /** Events per second over the window, or undefined until two readings exist. */
  rate(key: string): number | undefined {
    const samples = this.#samples.get(key);
    const first = samples?.[0];
    const last = samples?.at(-1);
    if (first === undefined || last === undefined || last.timeMs <= first.timeMs) return undefined;
    return ((last.processed - first.processed) * 1000) / (last.timeMs - first.timeMs);
  }
}
