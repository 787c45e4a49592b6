// Whether the dashboard's user may change the models it shows (approve and rollback are both a patch
// of the EmbeddingModel), asked with SelfSubjectAccessReviews and kept for a short while: the page then
// shows a viewer disabled buttons that name the missing permission and the role that grants it, instead
// of buttons that fail with 403 on click. Only a hint for the page: the API server still decides every
// action. A question that cannot be answered (the review itself refused, or failed) leaves the buttons
// enabled, as before.
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
   * undefined when it could not be told.
   */
  mayPatch(namespace: string, name?: string): Promise<boolean | undefined>;
  /** The kubeconfig's user as refusals name it. */
  user: string;
  /** The dashboard shows every namespace (`-A`): asked about all of them at once first. */
  allNamespaces?: boolean;
  /** Reviews in flight at most (default 4). */
  concurrency?: number;
  /** How long an answer is kept before a page load asks again (default 30 s). */
  ttlMs?: number;
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
  readonly #answers = new Map<string, { allowed: boolean | undefined; atMs: number }>();
  readonly #asking = new Map<string, Promise<void>>();
  readonly #now: () => number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: PermissionsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Asks again about `models` where the answer is missing or older than the TTL (`onlyMissing`: only
   * those never asked); resolves once answered, true when whether some model's actions are denied
   * changed.
   */
  async refresh(models: Iterable<ModelRef>, onlyMissing = false): Promise<boolean> {
    const list = [...models];
    const before = list.map((model) => this.denied(model.namespace, model.name));
    const byNamespace = new Map<string, string[]>();
    for (const { namespace, name } of list)
      byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), name]);
    // Allowed in every namespace: nothing more to ask.
    if (this.#options.allNamespaces === true && this.#stale("", onlyMissing)) await this.#ask("");
    if (this.#everywhere())
      return list.some((model, index) => this.denied(model.namespace, model.name) !== before[index]);
    await Promise.all(
      [...byNamespace].map(async ([namespace, names]) => {
        if (this.#stale(namespace, onlyMissing)) await this.#ask(namespace);
        // Some models of it may still be changeable (a Role naming them): each is asked by name.
        if (this.#answers.get(namespace)?.allowed !== false) return;
        await Promise.all(
          [...new Set(names)]
            .filter((name) => this.#stale(`${namespace}/${name}`, onlyMissing))
            .map((name) => this.#ask(namespace, name)),
        );
      }),
    );
    return list.some((model, index) => this.denied(model.namespace, model.name) !== before[index]);
  }

  #stale(key: string, onlyMissing: boolean): boolean {
    const answer = this.#answers.get(key);
    return (
      answer === undefined || (!onlyMissing && this.#now() - answer.atMs >= (this.#options.ttlMs ?? 30_000))
    );
  }

  #ask(namespace: string, name?: string): Promise<void> {
    const key = name === undefined ? namespace : `${namespace}/${name}`;
    let asking = this.#asking.get(key);
    if (asking === undefined) {
      asking = this.#slot(() => this.#options.mayPatch(namespace, name))
        .catch(() => undefined)
        .then((allowed) => {
          this.#answers.set(key, { allowed, atMs: this.#now() });
        })
        .finally(() => this.#asking.delete(key));
      this.#asking.set(key, asking);
    }
    return asking;
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
