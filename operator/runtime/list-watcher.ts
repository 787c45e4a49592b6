// What an informer needs from the API server, as an interface: list a collection and watch it from a
// resourceVersion. The real one speaks to the API server; unit tests script one to drive the
// informer through 410 Gone, errors and closed streams.
import type { KubeClient, ListResult, WatchEvent } from "./kube-client.ts";
import { resourcePath, type ResourceType } from "./resource-types.ts";

/** Lists and watches one collection. */
export interface ListWatcher {
  list(signal: AbortSignal): Promise<ListResult>;
  /**
   * Watches from `resourceVersion` with bookmarks, asking the server to end the stream after
   * `timeoutSeconds`. Resolves when the server ends the stream normally; rejects on errors
   * (KubeApiError 410 = gone) and with the abort reason when `signal` aborts.
   */
  watch(
    resourceVersion: string,
    handlers: { onEvent: (event: WatchEvent) => void; onConnected: () => void },
    signal: AbortSignal,
    timeoutSeconds: number,
  ): Promise<void>;
}

/**
 * Lists and watches `type` in one namespace (or all when `namespace` is undefined), optionally only
 * objects matching `labelSelector`. Watches ask for bookmarks, which keep a quiet watch's
 * resourceVersion fresh and prove its connection alive (watch-liveness.ts).
 */
export function apiListWatcher(
  client: KubeClient,
  type: ResourceType,
  options: { namespace?: string; labelSelector?: string } = {},
): ListWatcher {
  const path = resourcePath(type, options.namespace);
  const selector = { labelSelector: options.labelSelector };
  return {
    list: (signal) => client.list(path, selector, 500, signal),
    watch: (resourceVersion, handlers, signal, timeoutSeconds) =>
      client.watch(
        path,
        { ...selector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        handlers,
        signal,
      ),
  };
}
