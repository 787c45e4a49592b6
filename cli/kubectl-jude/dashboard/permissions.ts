// Whether the dashboard's user may change the models of a namespace (approve and rollback are both a
// patch of the EmbeddingModel), asked once per namespace with a SelfSubjectAccessReview and kept for a
// short while: the page then shows a viewer disabled buttons that name the missing permission and the
// role that grants it, instead of buttons that fail with 403 on click. Only a hint for the page: the
// API server still decides every action. A question that cannot be answered (the review itself
// refused, or failed) leaves the buttons enabled, as before.
import { accessDenied } from "../cluster.ts";

export interface PermissionsOptions {
  /** The review: true, false, or undefined when it could not be told. */
  mayPatch(namespace: string): Promise<boolean | undefined>;
  /** The kubeconfig's user as refusals name it. */
  user: string;
  /** How long an answer is kept before a page load asks again (default 30 s). */
  ttlMs?: number;
  now?: () => number;
}

/** The answers per namespace, refreshed on demand. */
export class ActionPermissions {
  readonly #options: PermissionsOptions;
  readonly #answers = new Map<string, { allowed: boolean | undefined; atMs: number }>();
  readonly #asking = new Map<string, Promise<void>>();
  readonly #now: () => number;

  constructor(options: PermissionsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Asks again for each namespace whose answer is missing or older than the TTL (`onlyMissing`: only
   * those never asked); resolves once answered, true when an answer changed.
   */
  async refresh(namespaces: Iterable<string>, onlyMissing = false): Promise<boolean> {
    const ttlMs = this.#options.ttlMs ?? 30_000;
    const stale = [...new Set(namespaces)].filter((namespace) => {
      const answer = this.#answers.get(namespace);
      return answer === undefined || (!onlyMissing && this.#now() - answer.atMs >= ttlMs);
    });
    const before = stale.map((namespace) => this.#answers.get(namespace)?.allowed);
    await Promise.all(stale.map((namespace) => this.#ask(namespace)));
    return stale.some((namespace, index) => this.#answers.get(namespace)?.allowed !== before[index]);
  }

  #ask(namespace: string): Promise<void> {
    let asking = this.#asking.get(namespace);
    if (asking === undefined) {
      asking = this.#options
        .mayPatch(namespace)
        .catch(() => undefined)
        .then((allowed) => {
          this.#answers.set(namespace, { allowed, atMs: this.#now() });
        })
        .finally(() => this.#asking.delete(namespace));
      this.#asking.set(namespace, asking);
    }
    return asking;
  }

  /** Why the user may not change the models of `namespace`; undefined when allowed or not known. */
  denied(namespace: string): string | undefined {
    if (this.#answers.get(namespace)?.allowed !== false) return undefined;
    return accessDenied({ verb: "patch", kind: "EmbeddingModel", namespace, user: this.#options.user });
  }

  /** Whether `namespace` was never asked about. */
  unknown(namespace: string): boolean {
    return !this.#answers.has(namespace) && !this.#asking.has(namespace);
  }
}
