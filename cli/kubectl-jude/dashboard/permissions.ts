// Whether the dashboard's user may change the models it shows (approve and rollback are both a patch
// of the EmbeddingModel), asked with SelfSubjectAccessReviews and kept for a short while: the page then
// shows a viewer disabled buttons that name the missing permission and the role that grants it, instead
// of buttons that fail with 403 on click. Only a hint for the page: the API server still decides every
// action. A question that cannot be answered (the review itself refused, or failed) leaves the buttons
// enabled, as before.
//
// Asked once per namespace (any model); only where that is "no" is each model of it asked by name: a
// Role may grant the patch of some models only (RBAC `resourceNames`), which a review without a name
// answers "no" for.
import { accessDenied } from "../cluster.ts";

export interface PermissionsOptions {
  /**
   * The review of patching the models of `namespace` (any, or the one named `name`): true, false, or
   * undefined when it could not be told.
   */
  mayPatch(namespace: string, name?: string): Promise<boolean | undefined>;
  /** The kubeconfig's user as refusals name it. */
  user: string;
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
      asking = this.#options
        .mayPatch(namespace, name)
        .catch(() => undefined)
        .then((allowed) => {
          this.#answers.set(key, { allowed, atMs: this.#now() });
        })
        .finally(() => this.#asking.delete(key));
      this.#asking.set(key, asking);
    }
    return asking;
  }

  /**
   * Why the user may not change the model `name` of `namespace`; undefined when allowed or not known
   * (neither the namespace nor, where that is "no", the model by name answered "no").
   */
  denied(namespace: string, name: string): string | undefined {
    if (this.#answers.get(namespace)?.allowed !== false) return undefined;
    if (this.#answers.get(`${namespace}/${name}`)?.allowed !== false) return undefined;
    return accessDenied({ verb: "patch", kind: "EmbeddingModel", namespace, user: this.#options.user });
  }

  /** Whether the model was never asked about (its namespace, or it by name where that is "no"). */
  unknown(namespace: string, name: string): boolean {
    const never = (key: string) => !this.#answers.has(key) && !this.#asking.has(key);
    if (never(namespace)) return true;
    return this.#answers.get(namespace)?.allowed === false && never(`${namespace}/${name}`);
  }
}
