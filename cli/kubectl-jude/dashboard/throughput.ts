// Pipeline throughput for the dashboard. The NearlinePipeline status carries counters (events
// processed since the workers started), not rates, so the dashboard derives events/s from how the
// counter moved between the status updates it watched, over a sliding window.
//
// The operator refreshes a pipeline's status every 30 s by default (controllers/nearline-pipeline/
// reconcile.ts, pipelinePollMs; `--pipeline-poll-seconds` may make it shorter) and writes it only when
// something changed, so an idle pipeline sends no update at all. Silence longer than a refresh
// therefore means the counter stood still: the rate counts that quiet time, and falls to zero, instead
// of keeping the last busy figure forever (with a shorter poll it falls a little later than it could).

/** How often the operator refreshes a pipeline's status (its pipelinePollMs). */
export const statusRefreshMs = 30_000;

interface Sample {
  timeMs: number;
  processed: number;
}

/** Events per second per (pipeline, version) from successive counter readings. */
export class ThroughputTracker {
  readonly #samples = new Map<string, Sample[]>();
  readonly #windowMs: number;
  readonly #quietAfterMs: number;

  /**
   * `windowMs`: how far back the rate looks (default one minute). `quietAfterMs`: how long without a
   * reading means the counter did not move (default one and a half status refreshes, so a refresh
   * that is a little late does not read as a pause).
   */
  constructor(windowMs = 60_000, quietAfterMs = (statusRefreshMs * 3) / 2) {
    this.#windowMs = windowMs;
    this.#quietAfterMs = quietAfterMs;
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

  /**
   * Events per second over the window, or undefined until it can be measured. With `nowMs`, a
   * counter that sent no reading for `quietAfterMs` counts as unchanged until `nowMs - quietAfterMs`.
   */
  rate(key: string, nowMs?: number): number | undefined {
    const samples = this.#samples.get(key);
    const last = samples?.at(-1);
    if (samples === undefined || last === undefined) return undefined;
    const points = [...samples];
    const quietUntil = nowMs === undefined ? undefined : nowMs - this.#quietAfterMs;
    if (quietUntil !== undefined && quietUntil > last.timeMs)
      points.push({ timeMs: quietUntil, processed: last.processed });
    const end = points.at(-1)!;
    while (points.length > 2 && end.timeMs - points[1]!.timeMs >= this.#windowMs) points.shift();
    const first = points[0]!;
    if (end.timeMs <= first.timeMs) return undefined;
    return ((end.processed - first.processed) * 1000) / (end.timeMs - first.timeMs);
  }
}
