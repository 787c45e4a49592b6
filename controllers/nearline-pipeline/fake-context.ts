// A ReconcileContext over in-memory objects that records every API call a reconcile makes, so unit
// tests assert exactly what a reconcile writes (cert-manager style). Used only by tests.
import type { Logger } from "pino";
import { silentLogger } from "../../plumbing/logger.ts";
import type { ResourceType } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ObjectKey, ReconcileContext } from "../../operator/runtime/types.ts";

/** One recorded API call. */
export type RecordedCall =
  | { verb: "apply"; kind: string; name: string; object: KubeObject }
  | { verb: "applyStatus"; kind: string; name: string; status: Record<string, unknown> }
  | { verb: "delete"; kind: string; name: string }
  | { verb: "event"; type: "Normal" | "Warning"; reason: string; message: string };

/** A fake context: `objects` by kind hold what the cache and live reads return. */
export function fakeContext(
  key: ObjectKey,
  objects: Record<string, KubeObject[]>,
): { context: ReconcileContext; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const ofType = (type: ResourceType) => objects[type.kind] ?? [];
  const matches = (object: KubeObject, labels: Record<string, string> = {}) =>
    Object.entries(labels).every(([label, value]) => object.metadata?.labels?.[label] === value);
  const find = (type: ResourceType, at: ObjectKey) =>
    ofType(type).find(
      (object) => object.metadata?.name === at.name && object.metadata?.namespace === at.namespace,
    );
  const log: Logger = silentLogger();
  const context: ReconcileContext = {
    key,
    log,
    signal: new AbortController().signal,
    cache: {
      get: <T extends KubeObject>(type: ResourceType, at: ObjectKey) => find(type, at) as T | undefined,
      list: <T extends KubeObject>(
        type: ResourceType,
        options: { namespace?: string; labels?: Record<string, string> } = {},
      ) =>
        ofType(type).filter(
          (object) =>
            (options.namespace === undefined || object.metadata?.namespace === options.namespace) &&
            matches(object, options.labels),
        ) as T[],
    },
    client: {
      fieldManager: "jude-test",
      async apply<T extends object>(applied: T) {
        const object = applied as KubeObject;
        calls.push({ verb: "apply", kind: object.kind ?? "", name: object.metadata?.name ?? "", object });
        return applied;
      },
      async applyStatus(applied) {
        const object = applied as KubeObject;
        calls.push({
          verb: "applyStatus",
          kind: object.kind ?? "",
          name: object.metadata?.name ?? "",
          status: object.status as Record<string, unknown>,
        });
      },
      async delete(type, at) {
        calls.push({ verb: "delete", kind: type.kind, name: at.name });
        return find(type, at) !== undefined;
      },
      getLive: async <T extends KubeObject>(type: ResourceType, at: ObjectKey) =>
        find(type, at) as T | undefined,
      // Field selectors as the API server reads them: `path=value` pairs joined by commas.
      listLive: async <T extends KubeObject>(type: ResourceType, namespace: string, fieldSelector: string) =>
        ofType(type).filter(
          (object) =>
            object.metadata?.namespace === namespace &&
            fieldSelector.split(",").every((term) => {
              const [path = "", value] = term.split("=");
              const found = path
                .split(".")
                .reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], object);
              return found === value;
            }),
        ) as T[],
    },
    events: {
      normal: (_, reason, message) => calls.push({ verb: "event", type: "Normal", reason, message }),
      warning: (_, reason, message) => calls.push({ verb: "event", type: "Warning", reason, message }),
    },
  };
  return { context, calls };
}

/** The calls as short lines ("apply Deployment/x", "event Warning Reason") for exact comparisons. */
export function summarizeCalls(calls: readonly RecordedCall[]): string[] {
  return calls.map((call) =>
    call.verb === "event" ? `event ${call.type} ${call.reason}` : `${call.verb} ${call.kind}/${call.name}`,
  );
}
