/** What the queue needs to know about a waiting input. */
export interface Queued {
  /** Tokens including special tokens; the padded batch costs max(tokens) x batch size. */
  readonly tokenCount: number;
  /** Monotonic milliseconds (performance.now()) when the entry was queued. */
  readonly enqueuedAt: number;
  /** True once nobody waits for the result any more (the call was cancelled or timed out). */
  readonly cancelled: boolean;
}

/** Limits of one batch; a padded batch of n inputs of at most L tokens costs n x L tokens. */
export interface BatchLimits {
  maxBatchTokens: number;
  maxBatchSize: number;
}

/**
 * The token-budget queue. A batch is always built around the oldest waiting input, so nothing starves,
 * and filled with the inputs closest to it in length, so short texts are not padded to the length of
 * long ones (length bucketing without fixed buckets). Cancelled entries are dropped here, before they
 * cost any inference.
 */
export class BatchQueue<Entry extends Queued> {
  readonly limits: BatchLimits;
  #entries: Entry[] = [];
  #tokens = 0;

  constructor(limits: BatchLimits) {
    this.limits = limits;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#entries.length;
  }

  /** Tokens waiting, the signal to autoscale on. */
  get tokens(): number {
    return this.#tokens;
  }

  /** When the oldest waiting entry was queued, or undefined when the queue is empty. */
  get oldestEnqueuedAt(): number | undefined {
    return this.#entries[0]?.enqueuedAt;
  }

  push(entry: Entry): void {
    this.#entries.push(entry);
    this.#tokens += entry.tokenCount;
  }

  /** True when enough is waiting to fill a batch, so waiting for more would only add latency. */
  canFillBatch(): boolean {
    return this.#entries.length >= this.limits.maxBatchSize || this.#tokens >= this.limits.maxBatchTokens;
  }

  /**
   * Removes and returns the next batch (empty when nothing live is waiting). Cancelled entries are
   * removed and handed to `onDropped`.
   */
  takeBatch(onDropped: (entry: Entry) => void = () => {}): Entry[] {
    const live = this.dropCancelled(onDropped);
    if (live.length === 0) return [];
    const chosen = selectBatch(live, this.limits);
    const taken = new Set(chosen);
    this.#entries = live.filter((entry) => !taken.has(entry));
    for (const entry of chosen) this.#tokens -= entry.tokenCount;
    return chosen;
  }

  /** Removes and returns every entry. */
  takeAll(): Entry[] {
    const all = this.#entries;
    this.#entries = [];
    this.#tokens = 0;
    return all;
  }

  /**
   * Removes the cancelled entries now, handing each to `onDropped`, and returns the live ones (still
   * queued). Run when a call is cancelled, so its inputs stop holding queue room and permits while a
   * batch runs, not only when the next batch is taken.
   */
  dropCancelled(onDropped: (entry: Entry) => void = () => {}): readonly Entry[] {
    if (!this.#entries.some((entry) => entry.cancelled)) return this.#entries;
    const live: Entry[] = [];
    for (const entry of this.#entries) {
      if (entry.cancelled) {
        this.#tokens -= entry.tokenCount;
        onDropped(entry);
      } else {
        live.push(entry);
      }
    }
    this.#entries = live;
    return live;
  }
}

/**
 * Picks a batch from live entries in arrival order: sorts by length, starts at the oldest entry and
 * grows the window towards whichever neighbour adds less padding while the padded cost fits the budget.
 * Exported for tests.
 */
export function selectBatch<Entry extends Queued>(live: readonly Entry[], limits: BatchLimits): Entry[] {
  const anchor = live[0];
  if (anchor === undefined) return [];
  // Stable sort keeps arrival order among equal lengths, so older entries win ties.
  const sorted = [...live].sort((a, b) => a.tokenCount - b.tokenCount);
  const tokenAt = (index: number): number => sorted[index]?.tokenCount ?? Number.POSITIVE_INFINITY;
  let low = sorted.indexOf(anchor);
  let high = low;
  while (high - low + 1 < limits.maxBatchSize) {
    const size = high - low + 1;
    const longest = tokenAt(high);
    const leftFits = low > 0 && longest * (size + 1) <= limits.maxBatchTokens;
    const rightFits = high < sorted.length - 1 && tokenAt(high + 1) * (size + 1) <= limits.maxBatchTokens;
    if (!leftFits && !rightFits) break;
    // Padding added by taking the left neighbour (it is padded up) versus the right one (everyone
    // already in the window is padded up to it).
    const leftPadding = leftFits ? longest - tokenAt(low - 1) : Number.POSITIVE_INFINITY;
    const rightPadding = rightFits ? (tokenAt(high + 1) - longest) * size : Number.POSITIVE_INFINITY;
    if (leftPadding <= rightPadding) low--;
    else high++;
  }
  return sorted.slice(low, high + 1);
}
