// Kubernetes Events (core/v1) on JUDE objects, aggregated the way kubectl shows them: the same
// reason and message on the same object within ten minutes bumps `count` instead of creating another
// Event (a new one when that Event is gone). Recording is best effort: a failure is logged and never fails a reconcile. Events are fenced
// like every other write: once this replica has lost the Lease (`fence` throws), an Event a reconcile
// still emits on its way out is dropped, so a deposed leader cannot announce a cutover or a failure
// that the new leader's status contradicts (or repeat the new leader's Events under its own name).
import { randomBytes } from "node:crypto";
import type { Logger } from "../../plumbing/logger.ts";
import { isNamespaceTerminating, KubeApiError } from "./api-error.ts";
import type { KubeClient } from "./kube-client.ts";
import { resourcePath, resourceTypes } from "./resource-types.ts";
import type { EventRecorder, KubeObject } from "./types.ts";

const aggregationWindowMs = 10 * 60_000;
const rememberedEvents = 4096;

interface Recorded {
  namespace: string;
  name: string;
  count: number;
  firstSeenMs: number;
}

/** What makes two occurrences the same Event: the object, type, reason and message. */
function eventId(object: KubeObject, type: string, reason: string, message: string): string {
  const meta = object.metadata ?? {};
  return `${meta.uid ?? `${meta.namespace ?? "default"}/${meta.name}`}|${type}|${reason}|${message}`;
}

/** Creates Events as `component` (the controller name) through `client`. */
export function createEventRecorder(
  client: KubeClient,
  options: {
    component: string;
    fieldManager: string;
    log: Logger;
    now?: () => number;
    /** Throws when this replica may no longer write (it lost the Lease); the Event is then dropped. */
    fence?: () => void;
  },
): EventRecorder {
  const now = options.now ?? Date.now;
  const recorded = new Map<string, Recorded>();
  /** The write of each Event's last occurrence, while it is in flight. */
  const inFlight = new Map<string, Promise<void>>();

  async function record(
    object: KubeObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const meta = object.metadata ?? {};
    const namespace = meta.namespace ?? "default";
    const id = eventId(object, type, reason, message);
    const timestamp = new Date(now()).toISOString();
    const previous = recorded.get(id);
    if (previous !== undefined && now() - previous.firstSeenMs < aggregationWindowMs) {
      previous.count += 1;
      try {
        await client.mergePatch(
          resourcePath(resourceTypes.event, previous.namespace, previous.name),
          { count: previous.count, lastTimestamp: timestamp },
          options.fieldManager,
        );
        return;
      } catch (error) {
        // The Event it counts is gone (deleted by hand, or expired under a short --event-ttl): this
        // occurrence is recorded as a new Event rather than lost.
        if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
        recorded.delete(id);
      }
    }
    const name = `${meta.name ?? "object"}.${randomBytes(8).toString("hex")}`;
    await client.create(
      resourcePath(resourceTypes.event, namespace),
      {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: options.component },
        reportingComponent: options.component,
      },
      options.fieldManager,
    );
    if (recorded.size >= rememberedEvents) recorded.delete(recorded.keys().next().value as string);
    recorded.set(id, { namespace, name, count: 1, firstSeenMs: now() });
  }

  const emit = (object: KubeObject, type: "Normal" | "Warning", reason: string, message: string): void => {
    try {
      options.fence?.();
    } catch (error) {
      options.log.debug({ err: error, reason }, "not recording an Event: this replica no longer leads");
      return;
    }
    // After the previous occurrence of the same Event is written: emitted without waiting, a repeat
    // would otherwise not see the Event that occurrence creates (or both would see the 404 of a
    // deleted one) and create another, instead of counting on it.
    const id = eventId(object, type, reason, message);
    const written = (inFlight.get(id) ?? Promise.resolve())
      .then(() => record(object, type, reason, message))
      .catch((error: unknown) =>
        // An Event into a namespace being deleted is refused; so is everything else there, expectedly.
        isNamespaceTerminating(error)
          ? options.log.debug(
              { err: error, reason },
              "not recording an Event: the namespace is being deleted",
            )
          : options.log.warn({ err: error, reason }, "could not record an Event"),
      )
      .finally(() => {
        if (inFlight.get(id) === written) inFlight.delete(id);
      });
    inFlight.set(id, written);
  };
  return {
    normal: (object, reason, message) => emit(object, "Normal", reason, message),
    warning: (object, reason, message) => emit(object, "Warning", reason, message),
  };
}
