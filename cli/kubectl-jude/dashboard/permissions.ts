// Whether the dashboard's user may change the models it shows (approve and rollback are both a patch
// of the EmbeddingModel), asked with SelfSubjectAccessReviews and kept for a short while: the page then
// shows a viewer disabled buttons that name the missing permission and the role that grants it, instead
// of buttons that fail with 403 on click. Only a hint for the page: the API server still decides every
// action. A question that cannot be answered (the review itself refused, or failed, or unanswered
// after `reviewTimeoutMs`: an API server that hangs) leaves the buttons enabled — the API server still
// enforces — and the page says the permission could not be checked (`unchecked`); a hung review is
// given up, so it neither holds a slot nor leaves the page waiting, and the next refresh asks again.
// Giving up aborts the review (its HTTP request is closed): a page left open on a hung API server
// leaves no request behind per round; and a namespace whose review is still in flight (one the client
// did not close) is not asked again until it ends, so there is at most one per question.
//
// Asked once per namespace (any model); only where that is "no" is each model of it asked by name: a
// Role may grant the patch of some models only (RBAC `resourceNames`), which a review without a name
// answers "no" for. A dashboard of all namespaces asks first about all of them at once: a user who may
// patch the models everywhere is one question, whatever the number of namespaces. At most
// `concurrency` reviews are in flight: a page load is no burst of hundreds of requests.
import { accessDenied } from "../cluster.ts";

export interface PermissionsOptions {
  /**
   * The review of patching the models of `namespace` (any, or the one named `name`): true, false, or
   * undefined when it could not be told. `signal` is aborted when the review is given up: its request
   * should then be closed.
   */
  mayPatch(namespace: string, name: string | undefined, signal: AbortSignal): Promise<boolean | undefined>;
  /** The kubeconfig's user as refusals name it. */
  user: string;
  /** The dashboard shows every namespace (`-A`): asked about all of them at once first. */
  allNamespaces?: boolean;
  /** Reviews in flight at most (default 4). */
  concurrency?: number;
  /** How long an answer is kept before a page load asks again (default 30 s). */
  ttlMs?: number;
  /** How long a review may take before it counts as not answered (default 10 s). */
  reviewTimeoutMs?: number;
  now?: () => number;
}

/** A model the page shows. */
export interface ModelRef {
  namespace: string;
  name: string;
}

/** The answers per namespace (and per model where the namespace's is "no"), refreshed on demand. */
export class ActionPermissions {
  readonly #options: PermissionsOptions;
  /** By namespace, or by `namespace/name` for a model asked by name. */
  readonly #answers = new Map<
    string,
    { allowed: boolean | undefined; atMs: number; why?: "timed out" | "failed" }
  >();
  readonly #asking = new Map<string, Promise<void>>();
  /** Reviews given up (timed out) whose request has not ended yet: not asked again until it has. */
  readonly #givenUp = new Set<string>();
  readonly #now: () => number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(options: PermissionsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Asks again about `models` where the answer is missing or older than the TTL (`onlyMissing`: only
   * those never asked; `maxAgeMs`: instead of the TTL); resolves once answered, true when whether some
   * model's actions are denied, or could not be checked, changed.
   */
  async refresh(models: Iterable<ModelRef>, onlyMissing = false, maxAgeMs?: number): Promise<boolean> {
    const stale = (key: string) => this.#stale(key, onlyMissing, maxAgeMs);
    const list = [...models];
    // Being checked counts: an answer "yes" changes the page too (its buttons enabled).
    const shown = (model: ModelRef) =>
      [this.denied, this.unchecked, this.checking]
        .map((said) => said.call(this, model.namespace, model.name))
        .join("|");
    const before = list.map(shown);
    const byNamespace = new Map<string, string[]>();
    for (const { namespace, name } of list)
      byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), name]);
    // Allowed in every namespace: nothing more to ask.
    if (this.#options.allNamespaces === true && stale("")) await this.#ask("");
    if (this.#everywhere()) return list.some((model, index) => shown(model) !== before[index]);
    await Promise.all(
      [...byNamespace].map(async ([namespace, names]) => {
        if (stale(namespace)) await this.#ask(namespace);
        // Some models of it may still be changeable (a Role naming them): each is asked by name.
        if (this.#answers.get(namespace)?.allowed !== false) return;
        await Promise.all(
          [...new Set(names)]
            .filter((name) => stale(`${namespace}/${name}`))
            .map((name) => this.#ask(namespace, name)),
        );
      }),
    );
    return list.some((model, index) => shown(model) !== before[index]);
  }

  #stale(key: string, onlyMissing: boolean, maxAgeMs = this.#options.ttlMs ?? 30_000): boolean {
    const answer = this.#answers.get(key);
    return answer === undefined || (!onlyMissing && this.#now() - answer.atMs >= maxAgeMs);
  }

  /** The review's answer; undefined with why when it failed or did not answer in time (given up). */
  async #review(
    key: string,
    namespace: string,
    name: string | undefined,
  ): Promise<{ allowed: boolean | undefined; why?: "timed out" | "failed" }> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timed out">((resolve) => {
      timer = setTimeout(() => resolve("timed out"), this.#reviewTimeoutMs());
      timer.unref?.();
    });
    const controller = new AbortController();
    try {
      const review = this.#options.mayPatch(namespace, name, controller.signal);
      const allowed = await Promise.race([review, timedOut]);
      if (allowed === "timed out") {
        // Given up: its request is closed; until the review has ended, the key is not asked again.
        this.#givenUp.add(key);
        void review.catch(() => undefined).finally(() => this.#givenUp.delete(key));
        controller.abort(new Error(`no answer within ${this.#reviewTimeoutMs()} ms`));
        return { allowed: undefined, why: "timed out" };
      }
      return allowed === undefined ? { allowed, why: "failed" } : { allowed };
    } catch {
      return { allowed: undefined, why: "failed" };
    } finally {
      clearTimeout(timer);
    }
  }

  #reviewTimeoutMs(): number {
    return this.#options.reviewTimeoutMs ?? 10_000;
  }

  #ask(namespace: string, name?: string): Promise<void> {
    const key = name === undefined ? namespace : `${namespace}/${name}`;
    // Its given-up review has not ended (a request the client did not close): the "no answer" stands.
    if (this.#givenUp.has(key)) return Promise.resolve();
    let asking = this.#asking.get(key);
    if (asking === undefined) {
      asking = this.#slot(() => this.#review(key, namespace, name))
        .then((answer) => {
          const before = this.#answers.get(key);
          this.#answers.set(key, { ...answer, atMs: this.#now() });
          // Told at once, not when the whole refresh ends: a page waits for no other namespace's review
          // (one that hangs 10 s, or the last of many queued behind `concurrency`) to show this answer.
          if (before?.allowed !== answer.allowed || before?.why !== answer.why)
            for (const listener of this.#listeners) listener();
        })
        .finally(() => this.#asking.delete(key));
      this.#asking.set(key, asking);
    }
    return asking;
  }

  /**
   * Calls `listener` each time a review answers differently from what was known for its question (the
   * first answer included, a review given up included): the page is pushed what changed without waiting
   * for the rest of the refresh. Returns the function that removes it.
   */
  onAnswer(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs `review` once fewer than `concurrency` others run (a finished one hands its slot on). */
  async #slot<T>(review: () => Promise<T>): Promise<T> {
    if (this.#running < (this.#options.concurrency ?? 4)) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await review();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }

  /**
   * The review of all namespaces at once (`-A`) when it got no answer in time: a namespace not answered
   * yet is then "not checked" (buttons enabled), not "being checked" for another give-up's time (its
   * review, asked next on the same hung API server, would keep the page disabled 10 s more, and 10 s
   * more per 4 namespaces queued).
   */
  #everywhereTimedOut(): { allowed: boolean | undefined; why?: "timed out" | "failed" } | undefined {
    const answer = this.#options.allNamespaces === true ? this.#answers.get("") : undefined;
    return answer?.why === "timed out" ? answer : undefined;
  }

  /** Whether the review of all namespaces at once (`-A`) said yes. */
  #everywhere(): boolean {
    return this.#options.allNamespaces === true && this.#answers.get("")?.allowed === true;
  }

  /**
   * Why the user may not change the model `name` of `namespace`; undefined when allowed or not known
   * (neither the namespace nor, where that is "no", the model by name answered "no").
   */
  denied(namespace: string, name: string): string | undefined {
    if (this.#everywhere()) return undefined;
    if (this.#answers.get(namespace)?.allowed !== false) return undefined;
    if (this.#answers.get(`${namespace}/${name}`)?.allowed !== false) return undefined;
    return accessDenied({ verb: "patch", kind: "EmbeddingModel", namespace, user: this.#options.user });
  }

  /**
   * Why whether the user may change the model could not be checked (its review failed, was refused or
   * got no answer in time), while it is not known to be allowed or denied: the page keeps the buttons
   * enabled and shows this; undefined when the answer is known (or not asked yet).
   */
  unchecked(namespace: string, name: string): string | undefined {
    if (this.#everywhere() || this.denied(namespace, name) !== undefined) return undefined;
    const namespaceAnswer = this.#answers.get(namespace);
    const answer =
      namespaceAnswer === undefined
        ? this.#everywhereTimedOut()
        : namespaceAnswer.allowed === false
          ? this.#answers.get(`${namespace}/${name}`)
          : namespaceAnswer;
    if (answer === undefined || answer.allowed !== undefined) return undefined;
    const why =
      answer.why === "timed out"
        ? `got no answer within ${Math.round(this.#reviewTimeoutMs() / 1000)} s`
        : "was refused or failed";
    return `whether ${this.#options.user} may patch embeddingmodels.jude.dev in namespace ${namespace} could not be checked (the SelfSubjectAccessReview ${why}): the buttons stay enabled and the API server decides`;
  }

  /**
   * Why the page cannot tell yet whether the user may change the model: the review that decides it
   * (the namespace's, or the model's by name where that is "no") has not answered yet, the first time
   * it is asked or after `forget`. The page shows the buttons disabled, saying so, until the answer
   * comes or the review is given up (`unchecked`); undefined when an answer is known. A key whose
   * given-up review has not ended is not asked again (see `#ask`): not being checked either.
   */
  checking(namespace: string, name: string): string | undefined {
    const awaited = (key: string) => !this.#answers.has(key) && !this.#givenUp.has(key);
    // All namespaces asked again (after a 403): a namespace whose own answer is known shows it meanwhile.
    const pending =
      (this.#options.allNamespaces === true && awaited("") && awaited(namespace)) ||
      (!this.#everywhere() &&
        ((awaited(namespace) && this.#everywhereTimedOut() === undefined) ||
          (this.#answers.get(namespace)?.allowed === false && awaited(`${namespace}/${name}`))));
    if (!pending) return undefined;
    return `whether ${this.#options.user} may patch embeddingmodels.jude.dev in namespace ${namespace} is being checked (the SelfSubjectAccessReview has not answered yet): the buttons are disabled until it answers, at most ${Math.round(this.#reviewTimeoutMs() / 1000)} s`;
  }

  /**
   * Drops what is known about `namespace` (and about all namespaces at once): the API server refused an
   * action there, so the next refresh asks again whatever the answers' age.
   */
  forget(namespace: string): void {
    this.#answers.delete("");
    for (const key of [...this.#answers.keys()])
      if (key === namespace || key.startsWith(`${namespace}/`)) this.#answers.delete(key);
  }

  /** Whether the model was never asked about (its namespace, or it by name where that is "no"). */
  unknown(namespace: string, name: string): boolean {
    const never = (key: string) => !this.#answers.has(key) && !this.#asking.has(key);
    if (this.#options.allNamespaces === true && never("")) return true;
    if (this.#everywhere()) return false;
    if (never(namespace)) return true;
    return this.#answers.get(namespace)?.allowed === false && never(`${namespace}/${name}`);
  }
}

export interface RecheckOptions {
  permissions: ActionPermissions;
  /** The models the page shows now. */
  models: () => ModelRef[];
  /** Whether a page is open (nothing is asked for no one). */
  wanted: () => boolean;
  /** Called when whether some model's actions are denied changed (the page is then pushed). */
  changed: () => void;
  /** Period (default 30 s, the answers' TTL). */
  everyMs?: number;
}

/**
 * Asks again every `everyMs` while a page is open, so that a permission granted (or revoked) while the
 * page is open shows within one period (plus the reviews' time), without a page load. Each round is
 * the same batched refresh as a page load (with `-A` the cluster-wide question first: a user allowed
 * everywhere is one review a period); an answer younger than half a period (a page load just asked) is
 * not asked again. Returns the function that stops it.
 */
export function recheckPeriodically(options: RecheckOptions): () => void {
  const everyMs = options.everyMs ?? 30_000;
  let running = false;
  const timer = setInterval(() => {
    if (running || !options.wanted()) return;
    running = true;
    void options.permissions
      .refresh(options.models(), false, everyMs / 2)
      .then((changed) => {
        if (changed) options.changed();
      })
      .finally(() => (running = false));
  }, everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
