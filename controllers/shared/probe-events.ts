// Reads a pod's probe failure, in the kubelet's words, from its Unhealthy Events: the only place the
// kubelet says why a startup or readiness probe has not passed. One live read, made only while a
// resource is not ready and one of its pods runs without passing its probe (./unready-pods.ts).
// Serving pods, nearline workers and bootstrap shards share it.
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { probeFailure, type PendingProbe, type ProbeEventView } from "./unready-pods.ts";

/**
 * The kubelet's latest report of `probe`'s failure, from the pod's Unhealthy Events. A read that fails
 * (an operator whose role cannot list Events) leaves the message pointing at `kubectl describe pod`;
 * `pods` ("a serving pod's", "a worker pod's") says whose in the warning logged.
 */
export async function readProbeFailure(
  context: ReconcileContext,
  probe: PendingProbe,
  pods: string,
): Promise<string | undefined> {
  try {
    const events = await context.client.listLive<KubeObject & ProbeEventView>(
      resourceTypes.event,
      context.key.namespace,
      `involvedObject.uid=${probe.podUid},reason=Unhealthy`,
    );
    return probeFailure(events, probe);
  } catch (error) {
    context.log.warn({ err: error }, `cannot read ${pods} Events; its probe's failure goes unreported`);
    return undefined;
  }
}
