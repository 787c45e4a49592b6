// A KubeClient for the operator runtime's unit tests: lists answer as the test says, watches connect and
// then stay quiet until they are stopped.
import type { KubeClient, ListResult } from "../../operator/runtime/kube-client.ts";

/** A client whose `list` of a collection path answers as `list` does and whose watches wait until stopped. */
export function quietKubeClient(list: (path: string) => Promise<ListResult>): KubeClient {
  return {
    list,
    watch: async (
      _path: string,
      _query: unknown,
      handlers: { onConnected: () => void },
      signal: AbortSignal,
    ) => {
      handlers.onConnected();
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
  } as unknown as KubeClient;
}
