// The one place a Deployment about to be applied keeps its running pods' Secret stamps for Secrets
// that are gone: an older embedding version's serving pods (promotion) and any version's nearline
// workers are rendered from a version record that may name a Secret deleted since. Stamped `absent`,
// the template would roll their pods into one that cannot start (keepStampsOfMissingSecrets).
import type { V1Deployment } from "@kubernetes/client-node";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { annotationKeys } from "./labels.ts";
import { keepStampsOfMissingSecrets } from "./secret-wiring.ts";

/**
 * Rewrites `deployment`'s pod template Secret stamp (in place, before it is applied) so each Secret
 * stamped absent keeps the stamp of the Deployment as the cache holds it in the context's namespace.
 * A Deployment without a stamp, or not there yet, is left as rendered.
 */
export function keepRunningSecretStamps(context: ReconcileContext, deployment: V1Deployment): void {
  const annotations = deployment.spec?.template?.metadata?.annotations;
  const desired = annotations?.[annotationKeys.secretVersions];
  if (annotations === undefined || desired === undefined) return;
  const key = { namespace: context.key.namespace, name: deployment.metadata?.name ?? "" };
  const current = context.cache.get<V1Deployment & KubeObject>(resourceTypes.deployment, key);
  annotations[annotationKeys.secretVersions] = keepStampsOfMissingSecrets(
    desired,
    current?.spec?.template?.metadata?.annotations?.[annotationKeys.secretVersions],
  );
}
