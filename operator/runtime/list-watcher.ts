// What an informer needs from the API server, as an interface: list a collection and watch it from a
// resourceVersion. The real one speaks to the API server; unit tests script one to drive the
// informer through 410 Gone, errors and closed streams.
import type { KubeClient, ListResult, WatchEvent } from "./kube-client.ts";
import { resourcePath, type ResourceType } from "./resource-types.ts";

/** Lists and watches one collection. */
export interface ListWatcher {
  list(signal: AbortSignal): Promise<ListResult>;
  /** Resolves when the server ends the stream normally; rejects on errors (KubeApiError 410 = gone). */
  watch(
    resourceVersion: string,
    handlers: { onEvent: (event: WatchEvent) => void; onConnected: () => void },
    signal: AbortSignal,
  ): Promise<void>;
}

/** Server-side watch timeout: random in [min, 2*min) so many informers do not reconnect together. */
function watchTimeoutSeconds(minSeconds: number): number {
  return minSeconds + Math.floor(Math.random() * minSeconds);
}

/**
 * Lists and watches `type` in one namespace (or all when `namespace` is undefined), optionally only
 * objects matching `labelSelector`. Watches ask for bookmarks and end after a server-side timeout of
 * `watchTimeoutSeconds`..2x, so a quiet informer still proves its connection regularly.
 */
export function apiListWatcher(
  client: KubeClient,
  type: ResourceType,
  options: { namespace?: string; labelSelector?: string; watchTimeoutSeconds?: number } = {},
): ListWatcher {
  const path = resourcePath(type, options.namespace);
  const selector = { labelSelector: options.labelSelector };
  return {
    list: (signal) => client.list(path, selector, 500, signal),
    watch: (resourceVersion, handlers, signal) =>
      client.watch(
        path,
        {
          ...selector,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: watchTimeoutSeconds(options.watchTimeoutSeconds ?? 60),
        },
        handlers,
        signal,
      ),
  };
}
