// The writes of one controller: server-side apply with that controller's own field manager (so
// `kubectl get -o yaml --show-managed-fields` tells which controller owns which field), status through
// the /status subresource, deletes and live reads. No PUT with a stale resourceVersion anywhere.
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { KubeClient } from "./kube-client.ts";
import { keyOf } from "./object-key.ts";
import { objectPath, resourcePath, typeOfObject, type ResourceType } from "./resource-types.ts";
import type { ApplyOptions, CacheReader, ControllerClient, KubeObject, ObjectKey } from "./types.ts";

/** The field manager of a controller's applies. */
export function fieldManagerOf(controller: string): string {
  return `jude-${controller}`;
}

function typeOf(object: KubeObject): ResourceType {
  const type = typeOfObject(object.apiVersion ?? "", object.kind ?? "");
  if (type === undefined) throw new Error(`no resource type known for ${object.apiVersion} ${object.kind}`);
  return type;
}

/** What the cache holds at `key`, if its type is cached at all. */
function cachedAt(cache: CacheReader, type: ResourceType, key: ObjectKey): KubeObject | undefined {
  try {
    return cache.get(type, key);
  } catch {
    return undefined; // a type no controller watches
  }
}

/** What the cache holds of an object, if its type is cached at all. */
function cachedOf(cache: CacheReader, type: ResourceType, object: KubeObject): KubeObject | undefined {
  return cachedAt(cache, type, keyOf(object));
}

/** The controller owner reference of an object, if any. */
function controllerOf(object: KubeObject | undefined) {
  return object?.metadata?.ownerReferences?.find((reference) => reference.controller === true);
}

/**
 * Throws when the cache shows `object` controlled by another owner than the one `object` names: two
 * owners derived the same child name (model "shop" version "v1" and model "shop-v1" both name a
 * Service "shop-v1"). Applying would silently take the child over, e.g. point one model's query
 * Service at the other's pods; the error lands in the owner's conditions instead. An owner recreated
 * under the same kind and name still adopts what its predecessor left.
 */
function assertSameController(cache: CacheReader, type: ResourceType, object: KubeObject): void {
  const wanted = controllerOf(object);
  if (wanted === undefined) return;
  const holder = controllerOf(cachedOf(cache, type, object));
  if (holder === undefined || (holder.kind === wanted.kind && holder.name === wanted.name)) return;
  const key = keyOf(object);
  throw new Error(
    `${object.kind} ${key.namespace}/${key.name} belongs to ${holder.kind} ${holder.name}, so ${wanted.kind} ${wanted.name} cannot use that name; rename one of them (child names join the owner's name and version with '-')`,
  );
}

/**
 * Thrown instead of applying a child that would be adopted (the cache shows it without the owner
 * reference the apply adds) while its owner is being deleted, is gone or is another object of that
 * name. `kubectl delete --cascade=orphan` has the garbage collector remove the owner's references from
 * its children, then delete the owner; a reconcile that ran on a cache not yet showing the deletion
 * (woken by the collector's patch of a child) put the reference back, and the collector then deleted
 * that child as the dependent of a missing owner: the children the user meant to keep were lost.
 * Kubernetes' own controllers recheck an owner live before adopting for the same reason.
 */
export class OwnerDeleted extends Error {
  override readonly name = "OwnerDeleted";
}

/**
 * Before an apply that adopts `object` (the cache holds it without the controller reference the apply
 * names): throws OwnerDeleted unless a live read finds that owner, at that uid and not being deleted.
 * An apply that creates the child or keeps a reference the cache shows needs no read: only adoption
 * can undo an orphaning delete. A stale cache that still shows the reference makes the apply a no-op
 * skip or, for a changed body, leaves the window Kubernetes' controllers also leave (milliseconds).
 */
async function assertOwnerLive(
  client: KubeClient,
  cache: CacheReader,
  type: ResourceType,
  object: KubeObject,
  signal: AbortSignal | undefined,
): Promise<void> {
  const wanted = controllerOf(object);
  if (wanted === undefined) return;
  const cached = cachedOf(cache, type, object);
  if (cached === undefined || controllerOf(cached)?.uid === wanted.uid) return;
  const ownerType = typeOfObject(wanted.apiVersion, wanted.kind);
  if (ownerType === undefined) return;
  const key = keyOf(object);
  const owner = await client.get(
    objectPath(ownerType, { namespace: key.namespace, name: wanted.name }),
    signal,
  );
  const child = `${object.kind} ${key.namespace}/${key.name}`;
  if (owner === undefined || owner.metadata?.uid !== wanted.uid)
    throw new OwnerDeleted(`${child} not adopted: ${wanted.kind} ${wanted.name} (uid ${wanted.uid}) is gone`);
  if (owner.metadata?.deletionTimestamp !== undefined)
    throw new OwnerDeleted(`${child} not adopted: ${wanted.kind} ${wanted.name} is being deleted`);
}

/** What a client remembers of its last apply of one object under one field manager. */
interface AppliedEntry {
  hash: string;
  resourceVersion: string | undefined;
  type: ResourceType;
  key: ObjectKey;
}

/**
 * A status write the cache has not shown yet: the resourceVersion the cache held when it was sent
 * (the server answered another one), and when.
 */
interface UnseenStatusWrite {
  cachedResourceVersion: string;
  writtenMs: number;
}

/**
 * How long a status write may stay unseen by the cache before reconciles go on without it: the watch
 * delivers a write in milliseconds; past this the watch is late or stuck (and restarted by its
 * liveness check), and a reconcile on the older copy beats none.
 */
export const statusWriteSeenWithinMs = 30_000;

/** A ControllerClient that also tells its controller which of its status writes the cache lags. */
export interface CachedControllerClient extends ControllerClient {
  /**
   * While the cache still shows `key` as it was before this client's last status write of it (the
   * watch has not delivered the write yet): how much longer to wait for it, in ms. Undefined when
   * the cache shows that write or anything newer, or after statusWriteSeenWithinMs.
   */
  statusWriteUnseenFor(type: ResourceType, key: ObjectKey): number | undefined;
}

/** The number of remembered applies below which the client does not sweep them. */
const minSweepSize = 1024;

/**
 * Drops the remembered applies whose object `isCached` says is gone. An object applied but not yet
 * seen by its watch is dropped too: its next apply is then sent rather than skipped, nothing worse.
 */
export function forgetUncached<Entry>(
  remembered: Map<string, Entry>,
  isCached: (entry: Entry) => boolean,
): void {
  for (const [key, entry] of remembered) if (!isCached(entry)) remembered.delete(key);
}

/**
 * A ControllerClient for `controller`, reading the cache to skip writes that change nothing: a status
 * equal to the cached one, and an apply of exactly what this client last applied to an object the
 * cache still shows at the resourceVersion that apply returned (nobody changed it since, so the apply
 * would be a no-op). Level-triggered reconciles re-apply every child each time; without the skip a
 * settled operator with 200 pipelines polled every 30 s sent a dozen no-op applies a second.
 * `beforeWrite` runs before every write and refuses it by throwing (the controller's does once this
 * replica no longer leads); `leadingSignal` aborts writes and live reads in flight, and their waits
 * when the API server asked for a retry (the controller's aborts with leadership, and at the end of
 * shutdown's drain time, which waits for every reconcile: a read waiting out 429s would hold it).
 */
export function createControllerClient(
  client: KubeClient,
  cache: CacheReader,
  controller: string,
  beforeWrite: () => void = () => undefined,
  leadingSignal: () => AbortSignal | undefined = () => undefined,
  // Monotonic: only durations are measured (how long a status write stayed unseen).
  now: () => number = () => performance.now(),
): CachedControllerClient {
  const fieldManager = fieldManagerOf(controller);
  // Per object path: the status write the cache has not shown yet (see statusWriteUnseenFor).
  const unseenStatusWrites = new Map<string, UnseenStatusWrite>();
  // Per field manager and object path: hash of the last applied body and the resourceVersion the
  // server answered, with the object's type and key for the sweep below.
  const lastApplied = new Map<string, AppliedEntry>();
  let sweepAbove = minSweepSize;
  return {
    fieldManager,
    async apply<T extends object>(value: T, options: ApplyOptions = {}): Promise<T> {
      const object = value as KubeObject;
      const type = typeOf(object);
      assertSameController(cache, type, object);
      const path = objectPath(type, keyOf(object));
      const body = JSON.stringify(object);
      const manager = options.fieldManager ?? fieldManager;
      const hash = createHash("sha256")
        .update(body)
        .update(String(options.force === true))
        .digest("base64");
      const lastKey = `${manager} ${path}`;
      const last = lastApplied.get(lastKey);
      const cached = last?.hash === hash ? cachedOf(cache, type, object) : undefined;
      if (
        cached !== undefined &&
        last?.resourceVersion !== undefined &&
        cached.metadata?.resourceVersion === last.resourceVersion
      )
        return cached as T;
      await assertOwnerLive(client, cache, type, object, leadingSignal());
      beforeWrite();
      const applied = await client.apply(path, object, manager, options.force === true, leadingSignal());
      lastApplied.set(lastKey, {
        hash,
        resourceVersion: applied.metadata?.resourceVersion,
        type,
        key: keyOf(object),
      });
      if (lastApplied.size > sweepAbove) {
        // Objects the garbage collector or a namespace deletion removed are never deleted through
        // this client; forget those the cache no longer holds, at amortised constant cost.
        forgetUncached(lastApplied, (entry) => cachedAt(cache, entry.type, entry.key) !== undefined);
        sweepAbove = Math.max(minSweepSize, 2 * lastApplied.size);
      }
      return applied as T;
    },
    async applyStatus<T extends object>(value: T): Promise<void> {
      const object = value as KubeObject;
      const type = typeOf(object);
      const key = keyOf(object);
      const cached = cache.get(type, key);
      // A status write bumps resourceVersion, which the watch turns into another reconcile: writing
      // only real changes is what keeps a settled object quiet.
      if (cached !== undefined && isDeepStrictEqual(cached.status, object.status)) return;
      beforeWrite();
      // Forced: this controller is the only writer of its objects' status, and a status field someone
      // else set (kubectl edit --subresource=status, a script, a former field manager name) would
      // otherwise refuse every status apply with a 409 conflict, and the status would keep the edit.
      const path = objectPath(type, key);
      const stored = await client.apply(`${path}/status`, object, fieldManager, true, leadingSignal());
      const before = cached?.metadata?.resourceVersion;
      // The next reconcile must not decide from the status this write replaced (it would announce
      // the same transitions again): remember what the cache shows until the watch brings the write.
      for (const [unseenPath, unseen] of unseenStatusWrites)
        if (now() - unseen.writtenMs >= statusWriteSeenWithinMs) unseenStatusWrites.delete(unseenPath);
      if (before !== undefined && stored.metadata?.resourceVersion !== before)
        unseenStatusWrites.set(path, { cachedResourceVersion: before, writtenMs: now() });
    },
    statusWriteUnseenFor(type, key): number | undefined {
      const path = objectPath(type, key);
      const unseen = unseenStatusWrites.get(path);
      if (unseen === undefined) return undefined;
      const leftMs = unseen.writtenMs + statusWriteSeenWithinMs - now();
      if (leftMs > 0 && cache.get(type, key)?.metadata?.resourceVersion === unseen.cachedResourceVersion)
        return leftMs;
      unseenStatusWrites.delete(path);
      return undefined;
    },
    async delete(type, key): Promise<boolean> {
      beforeWrite();
      const path = objectPath(type, key);
      for (const lastKey of [...lastApplied.keys()])
        if (lastKey.endsWith(` ${path}`)) lastApplied.delete(lastKey);
      return client.delete(objectPath(type, key), leadingSignal());
    },
    async getLive<T extends KubeObject = KubeObject>(
      type: ResourceType,
      key: Parameters<ControllerClient["getLive"]>[1],
    ) {
      return client.get<T>(objectPath(type, key), leadingSignal());
    },
    async listLive<T extends KubeObject = KubeObject>(
      type: ResourceType,
      namespace: string,
      fieldSelector: string,
    ) {
      return (await client.list(resourcePath(type, namespace), { fieldSelector }, undefined, leadingSignal()))
        .items as T[];
    },
  };
}
