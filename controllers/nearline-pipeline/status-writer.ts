// Writes a JUDE object's complete status (the fields a controller owns, observedGeneration, and the
// conditions merged so lastTransitionTime survives unchanged statuses) through the /status subresource.
import { apiVersion, type Condition } from "../../crds/index.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { setConditions, type ConditionInput } from "../shared/conditions.ts";

/**
 * Applies `fields` plus `conditions` as the status of the object `raw` (as last read). Server-side
 * apply drops fields this manager set before and omits now, so `fields` must be the complete status.
 */
export async function writeStatus(
  context: ReconcileContext,
  raw: KubeObject,
  fields: Record<string, unknown>,
  conditions: readonly ConditionInput[],
): Promise<void> {
  const generation = raw.metadata?.generation;
  const previous = (raw.status as { conditions?: Condition[] } | undefined)?.conditions;
  await context.client.applyStatus({
    apiVersion,
    kind: raw.kind,
    metadata: { name: context.key.name, namespace: context.key.namespace },
    status: {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      ...fields,
      conditions: setConditions(previous, conditions, generation, new Date()),
    },
  });
}
