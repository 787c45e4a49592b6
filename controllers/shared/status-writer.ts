// Writes a JUDE object's complete status (the fields a controller owns, observedGeneration, and the
// conditions merged so lastTransitionTime survives unchanged statuses) through the /status subresource.
import { apiVersion, type Condition } from "../../crds/index.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { kstatusConditions, setConditions, type ConditionInput, type Kstatus } from "./conditions.ts";

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

/**
 * Writes `verdict` as the kstatus conditions (Ready, Stalled, Reconciling) of the object `raw`, keeping
 * every other status field and condition as they are, with observedGeneration at the object's
 * generation: the verdict is about the spec as it is now (kstatus reads Stalled only when they match).
 */
export async function writeVerdictKeepingStatus(
  context: ReconcileContext,
  raw: KubeObject,
  verdict: Kstatus,
): Promise<void> {
  const {
    conditions: _conditions,
    observedGeneration: _observedGeneration,
    ...kept
  } = (raw.status ?? {}) as Record<string, unknown>;
  await writeStatus(context, raw, kept, kstatusConditions(verdict));
}
