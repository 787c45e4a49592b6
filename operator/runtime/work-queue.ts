// The per-controller work queue (client-go's semantics): adding a key that is already waiting merges
// into one entry, a key being processed is never handed out again until done() (a re-add meanwhile is
// remembered and queued then), failed keys come back after the rate limiter's delay, delayed adds keep
// the earliest due time. Level-triggered: a key says "look at this object", never what happened.
import { MAX_TIMER_MS } from "../../plumbing/timers.ts";
import { RetryRateLimiter } from "./rate-limiter.ts";

/** Observes the queue for metrics. */
export interface WorkQueueObserver {
  /** Keys waiting (not delayed, not in progress). */
  depth(waiting: number): void;
  /** Time a key waited between being queued and handed to a worker. */
  waited(milliseconds: number): void;
}

/** A merging, exclusive, rate-limited queue of string keys. */
export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys waiting to be processed (in #queue, or re-added while processing), with when they were queued. */
  readonly #dirty = new Map<string, number>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { dueMs: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  readonly #limiter: RetryRateLimiter;
  readonly #observer: WorkQueueObserver | undefined;
  readonly #now: () => number;
  #shuttingDown = false;

  constructor(
    options: { rateLimiter?: RetryRateLimiter; observer?: WorkQueueObserver; now?: () => number } = {},
  ) {
    this.#limiter = options.rateLimiter ?? new RetryRateLimiter();
    this.#observer = options.observer;
    // The monotonic clock: every use is a duration (back-off, due times, time waited), and a step of
    // the wall clock must not stretch or shrink them.
    this.#now = options.now ?? (() => performance.now());
  }

  /** Queues a key; a no-op when it is already waiting, deferred to done() while it is processed. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.set(key, this.#now());
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Queues a key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const dueMs = this.#now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.dueMs <= dueMs) return;
      clearTimeout(pending.timer);
    }
    // A timer given more than 2^31 - 1 ms fires after 1 ms; a key due later wakes at that cap (about
    // 24.8 days) instead, and its reconcile queues it again for what is left.
    const timer = setTimeout(
      () => {
        this.#delayed.delete(key);
        this.add(key);
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    this.#delayed.set(key, { dueMs, timer });
  }

  /** Queues a failed key after its back-off (per key, exponential) and the overall rate limit. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.#limiter.when(key, this.#now()));
  }

  /** Resets a key's back-off after it succeeded. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** Failures of a key since it last succeeded. */
  failures(key: string): number {
    return this.#limiter.failures(key);
  }

  /**
   * The next key to process, marking it in progress; waits while the queue is empty. Undefined once
   * the queue is shut down and empty.
   */
  async get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) return this.#start(key);
    if (this.#shuttingDown) return undefined;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks a key finished; if it was re-added meanwhile it is queued again now. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    if (this.#processing.size === 0) this.#idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  get inProgress(): number {
    return this.#processing.size;
  }

  /** Stops handing out keys: waiting get() calls return undefined, pending delays are dropped. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue.splice(0);
    this.#dirty.clear();
    this.#observer?.depth(0);
    this.#waiters.splice(0).forEach((resolve) => resolve(undefined));
  }

  /** Resolves when no key is in progress (after shutDown: when the last worker finished). */
  async idle(): Promise<void> {
    if (this.#processing.size === 0) return;
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter(this.#start(key));
      return;
    }
    this.#queue.push(key);
    this.#observer?.depth(this.#queue.length);
  }

  #start(key: string): string {
    const queuedMs = this.#dirty.get(key) ?? this.#now();
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#observer?.depth(this.#queue.length);
    this.#observer?.waited(this.#now() - queuedMs);
    return key;
  }
}
