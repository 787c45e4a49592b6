/**
 * Vectors for rendered texts with each distinct text embedded once per version across all shards:
 * a bounded in-process cache first, then the store's text cache (`claimTexts`): `ready` vectors are
 * reused, `claimed` texts are embedded here, and `pending` ones (another shard holds the claim) are
 * asked for again after a backoff, which also picks them up if that shard died and its lease expired.
 *
 * Each embedding request's vectors are put into the store cache as soon as that request returns, not
 * when the whole batch is done: a shard killed mid-batch then loses at most the requests in flight,
 * and other shards waiting for those texts get them sooner. Requests are bounded by one set of permits
 * shared by all batches in flight, so `maxInflight` holds for the shard as a whole.
 *
 * A request the server refuses for its input (INVALID_ARGUMENT, a size limit: never retried) is halved
 * until the refused texts stand alone (`embedIsolatingRefusals`, as nearline does); those texts get the
 * server's reason instead of a vector, so the caller counts their entities `failed` and writes the rest.
 * Their claims are released, not cached: a refusal is a fact about this server's limits, not the text.
 *
 * A request the server fails itself (INTERNAL, UNKNOWN) is handled by the nearline policy too
 * (`serverFailures`, `embedIsolatingRefusals`): the embedder tries it a few times; then a probe asks
 * whether the server answers at all. It does: the request is halved, and a text the server fails alone
 * once more comes back `failed` with the server's status and message (its entities counted failed,
 * EMBEDDING_FAILED; its claim released, not cached), so one text the model cannot take does not fail
 * the shard on every rerun. It does not: no text is blamed, the request waits with back-off (reported
 * through the policy) until the server answers or the abort ends the wait.
 *
 * The abort signal (SIGTERM) ends a call promptly with the signal's reason: waits for texts another
 * shard has claimed, requests waiting for a permit, and (through the shard's `embed`) the retries of an
 * unavailable embedding server. Vectors already put into the text cache stay there for the rerun.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Store, VectorDtype } from "../../store/index.ts";
import { claimTexts, putTexts, releaseTextClaims } from "../../store/index.ts";
import { Permits } from "../../plumbing/permits.ts";
import type { EntityText } from "../shared/entity-text.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";
import { embeddingCalls, embedIsolatingRefusals, type ServerFailurePolicy } from "../shared/embedding.ts";

export interface TextVectorsOptions {
  readonly store: Store;
  readonly version: string;
  readonly modelDigest: string;
  readonly dtype: VectorDtype;
  /** Embed each distinct text once (true) or every entity's text (false). */
  readonly dedupe: boolean;
  /** Claim owner, stable across restarts of the shard so it can take its own claims back at once. */
  readonly owner: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly localEntries: number;
  readonly maxBatchSize: number;
  readonly maxInflight: number;
  /** One embedding request (already retried on transient failures by the caller). */
  readonly embed: (texts: readonly string[]) => Promise<Float32Array[]>;
  /** Whether an embed error is the server refusing the texts themselves (see the module comment). */
  readonly isRefused?: ((error: unknown) => boolean) | undefined;
  /** How a server failing a request is told apart from a text it cannot take (module comment). */
  readonly serverFailures?: ServerFailurePolicy | undefined;
  /**
   * Told how many texts were just embedded (with dedupe: and put into the text cache), before the
   * vectors are used; the shard's `embedded` count comes from here, so work done by a batch that is
   * then retried, or whose shard is killed before its checkpoint, is still counted (a rerun finds
   * those texts in the cache and does not embed them again).
   */
  readonly onEmbedded?: (texts: number) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
}

/** What `vectorsFor` found for the texts it was given. */
export interface TextVectorsResult {
  /** Aligned with the texts; undefined where the server refused the text or failed on it (below). */
  vectors: (Float32Array | undefined)[];
  /** The server's reason for each text it refused, by text hash. */
  refused: Map<string, string>;
  /** The server's error for each text it failed on alone while answering a probe, by text hash. */
  failed: Map<string, string>;
  /** How many distinct texts this call embedded. */
  embedded: number;
  /**
   * The inference requests this call made and the texts they carried, so they are checkpointed with
   * the batch that made them (a request that fails, even a refused one, is not counted).
   */
  inference: InferenceCounts;
}

/** Successful embedding requests and the texts they carried. */
export interface InferenceCounts {
  calls: number;
  texts: number;
}

/** A text's vector, or the server's reason for refusing it or the error it failed with. */
type Resolved = Float32Array | { readonly refused: string } | { readonly failed: string };

/** What `embedIsolatingRefusals` found for `text`. */
function resolvedFrom(
  found: { vectors: Map<string, Float32Array>; refused: Map<string, string>; failed: Map<string, string> },
  text: string,
): Resolved {
  const failed = found.failed.get(text);
  return (
    found.vectors.get(text) ?? (failed !== undefined ? { failed } : { refused: found.refused.get(text)! })
  );
}

/** Resolves vectors for rendered texts; see the module comment. */
export class TextVectors {
  readonly #options: TextVectorsOptions;
  /** Also remembers refusals, so a refused text repeated in later batches is not halved down to again. */
  readonly #local = new Map<string, Resolved>();
  readonly #inflight = new Map<string, Deferred>();
  readonly #permits: Permits;

  constructor(options: TextVectorsOptions) {
    this.#options = options;
    this.#permits = new Permits(options.maxInflight);
  }

  /**
   * Vectors aligned with `texts`, and how many distinct texts this call embedded (the rest came from
   * the caches or from an identical text); `onEmbedded` has been told of each of them.
   */
  async vectorsFor(texts: readonly EntityText[]): Promise<TextVectorsResult> {
    const inference: InferenceCounts = { calls: 0, texts: 0 };
    if (!this.#options.dedupe) return this.#embedAll(texts, inference);
    const textOf = new Map<string, string>();
    for (const each of texts) textOf.set(each.hash, each.text);
    const found = new Map<string, Resolved>();
    const awaited: Promise<void>[] = [];
    const mine: string[] = [];
    for (const hash of textOf.keys()) {
      const cached = this.#local.get(hash);
      const inflight = this.#inflight.get(hash);
      if (cached !== undefined) found.set(hash, cached);
      // Another batch of this shard is resolving the text: the store would hand our own claim back to
      // us, so without this both batches would embed it.
      else if (inflight !== undefined) {
        const waiting = inflight.promise.then((vector) => void found.set(hash, vector));
        // Observed by Promise.all below, unless this call fails first; then nobody awaits it.
        waiting.catch(() => undefined);
        awaited.push(waiting);
      } else mine.push(hash);
    }
    for (const hash of mine) this.#inflight.set(hash, deferred());
    let embedded: number;
    try {
      embedded = await this.#resolveFromStore(mine, textOf, inference, (hash, vector) => {
        found.set(hash, vector);
        this.#remember(hash, vector);
        this.#inflight.get(hash)?.resolve(vector);
        this.#inflight.delete(hash);
      });
    } catch (error) {
      for (const hash of mine) {
        this.#inflight.get(hash)?.reject(error);
        this.#inflight.delete(hash);
      }
      throw error;
    }
    await Promise.all(awaited);
    for (const [hash, vector] of found) this.#remember(hash, vector);
    return resultOf(texts, (each) => found.get(each.hash)!, embedded, inference);
  }

  /** Claims, embeds or waits for `hashes` until every one has a vector; returns how many it embedded. */
  async #resolveFromStore(
    hashes: string[],
    textOf: ReadonlyMap<string, string>,
    inference: InferenceCounts,
    onVector: (hash: string, vector: Resolved) => void,
  ): Promise<number> {
    let embedded = 0;
    let remaining = hashes;
    for (let wait = this.#options.pollMs; remaining.length > 0; wait = Math.min(wait * 2, 5_000)) {
      const claims = await claimTexts(this.#options.store, this.#options.version, remaining, {
        owner: this.#options.owner,
        leaseMs: this.#options.leaseMs,
      });
      for (const [hash, payload] of claims.ready) {
        if (payload.modelDigest !== this.#options.modelDigest) {
          throw new PipelineError(
            PipelineErrorCodes.TEXT_CACHE_MODEL_MISMATCH,
            `text cache of version ${this.#options.version} holds a vector of model ${payload.modelDigest}, expected ${this.#options.modelDigest}`,
          );
        }
        onVector(hash, payload.vector);
      }
      if (claims.claimed.length > 0) {
        const vectors = await this.#embedClaimed(
          claims.claimed.map((hash) => [hash, textOf.get(hash)!]),
          inference,
        );
        vectors.forEach((vector, hash) => onVector(hash, vector));
        for (const vector of vectors.values()) if (vector instanceof Float32Array) embedded++;
      }
      remaining = claims.pending;
      if (remaining.length > 0) await sleep(wait, undefined, { signal: this.#options.signal });
    }
    return embedded;
  }

  /**
   * Embeds claimed texts request by request, putting each request's vectors into the store cache;
   * refused texts come back with the server's reason.
   */
  async #embedClaimed(
    claimed: readonly [string, string][],
    inference: InferenceCounts,
  ): Promise<Map<string, Resolved>> {
    const { store, version, modelDigest, dtype, maxBatchSize, owner } = this.#options;
    const result = new Map<string, Resolved>();
    const settled = await Promise.allSettled(
      embeddingCalls(claimed, maxBatchSize, ([, text]) => text).map(async (request) => {
        const found = await this.#embedRequest(
          request.map(([, text]) => text),
          inference,
        );
        const accepted = request.filter(([, text]) => found.vectors.has(text));
        if (accepted.length > 0) {
          await putTexts(
            store,
            version,
            accepted.map(([textHash, text]) => ({ textHash, vector: found.vectors.get(text)!, modelDigest })),
            { dtype },
          );
          await this.#options.onEmbedded?.(accepted.length);
        }
        for (const [hash, text] of request) result.set(hash, resolvedFrom(found, text));
      }),
    );
    // Claims of texts without a cached vector (a failed request, a refused text): let other shards take
    // them now instead of after the lease; best effort, the lease expires anyway.
    const unput = claimed.map(([hash]) => hash).filter((hash) => !(result.get(hash) instanceof Float32Array));
    if (unput.length > 0) await releaseTextClaims(store, version, unput, owner).catch(() => undefined);
    const failure = settled.find((each) => each.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    return result;
  }

  /** Without dedupe: every text embedded, request by request. */
  async #embedAll(texts: readonly EntityText[], inference: InferenceCounts): Promise<TextVectorsResult> {
    const requests = embeddingCalls(texts, this.#options.maxBatchSize, (each) => each.text).map(
      async (request) => {
        const found = await this.#embedRequest(
          request.map((each) => each.text),
          inference,
        );
        const accepted = request.filter((each) => found.vectors.has(each.text)).length;
        if (accepted > 0) await this.#options.onEmbedded?.(accepted);
        return request.map((each) => resolvedFrom(found, each.text));
      },
    );
    const resolved = (await Promise.all(requests)).flat();
    const embedded = resolved.filter((each) => each instanceof Float32Array).length;
    return resultOf(texts, (_, index) => resolved[index]!, embedded, inference);
  }

  /**
   * One request under a permit, refused texts isolated (by halving) instead of failing it; each
   * successful `embed` is one inference call (its texts are already cut to one call's limits), added
   * to `inference`. Not started once the signal has aborted.
   */
  #embedRequest(
    texts: readonly string[],
    inference: InferenceCounts,
  ): ReturnType<typeof embedIsolatingRefusals> {
    const { embed, signal, serverFailures } = this.#options;
    const isRefused = this.#options.isRefused ?? (() => false);
    const counted = async (slice: readonly string[]): Promise<Float32Array[]> => {
      signal?.throwIfAborted();
      const vectors = await embed(slice);
      inference.calls++;
      inference.texts += slice.length;
      return vectors;
    };
    return this.#permits.run(
      () => embedIsolatingRefusals(counted, texts, { isRefused, serverFailures }),
      1,
      signal,
    );
  }

  #remember(hash: string, vector: Resolved): void {
    const limit = this.#options.localEntries;
    if (limit === 0) return;
    // Re-inserting moves the entry to the end, so eviction from the front drops the least recently used.
    this.#local.delete(hash);
    this.#local.set(hash, vector);
    if (this.#local.size > limit) this.#local.delete(this.#local.keys().next().value!);
  }
}

/** The result of `texts`, given what each one resolved to. */
function resultOf(
  texts: readonly EntityText[],
  resolvedOf: (text: EntityText, index: number) => Resolved,
  embedded: number,
  inference: InferenceCounts,
): TextVectorsResult {
  const refused = new Map<string, string>();
  const failed = new Map<string, string>();
  const vectors = texts.map((each, index) => {
    const resolved = resolvedOf(each, index);
    if (resolved instanceof Float32Array) return resolved;
    if ("failed" in resolved) failed.set(each.hash, resolved.failed);
    else refused.set(each.hash, resolved.refused);
    return undefined;
  });
  return { vectors, refused, failed, embedded, inference };
}

interface Deferred {
  readonly promise: Promise<Resolved>;
  readonly resolve: (vector: Resolved) => void;
  readonly reject: (error: unknown) => void;
}

function deferred(): Deferred {
  const { promise, resolve, reject } = Promise.withResolvers<Resolved>();
  // Nobody may be waiting when it fails; the failure is reported through the batch that owned it.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
