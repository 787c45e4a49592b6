// The EmbeddingModel reconciler: read (cache, plus live reads of referenced Secrets and claims),
// decide (pure functions), apply (server-side apply of every child, status through /status). It never
// acts on what an event said; it converges the children to the spec each time.
import type { EmbeddingModel, EmbeddingModelStatus } from "../../crds/index.ts";
import { safeParseEmbeddingModel } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext, ReconcileResult } from "../../operator/runtime/types.ts";
import { findCondition, type Kstatus } from "../shared/conditions.ts";
import type { Images } from "../shared/image.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { servingName } from "../shared/names.ts";
import { referenceBlocker, specBlockers, type ReferenceLookup } from "./blockers.ts";
import { referencedObjects } from "./references.ts";
import { deleteRetiredVersions } from "./retire-versions.ts";
import {
  decideModelKstatus,
  modelStatus,
  servedVersions,
  type Blocker,
  type VersionReport,
} from "./model-status.ts";
import { desiredQueryService, grpcEndpoint } from "./service.ts";
import { desiredVersionObjects } from "./version-objects.ts";
import { observeDeployment, servingState } from "./version-status.ts";

/** How often a model blocked on a missing Secret or claim looks again (they are not watched). */
export const missingReferencePollMs = 15_000;

/** Reconciles one EmbeddingModel. */
export async function reconcileEmbeddingModel(
  context: ReconcileContext,
  images: Images,
  placement?: WorkloadPlacement,
): Promise<ReconcileResult | void> {
  const raw = context.cache.get(resourceTypes.embeddingModel, context.key);
  if (raw === undefined || raw.metadata?.deletionTimestamp !== undefined) return; // children are garbage-collected
  const parsed = safeParseEmbeddingModel(raw);
  if (!parsed.success) {
    const verdict: Kstatus = { state: "Stalled", reason: "InvalidSpec", message: parsed.error.message };
    await writeStatus(context, raw as EmbeddingModel, verdict, [], undefined);
    return;
  }
  const model = parsed.data;
  let desired: object[] = [];
  let renderError: Error | undefined;
  try {
    desired = desiredVersionObjects(model, images, placement);
  } catch (error) {
    renderError = error as Error;
  }
  const blockers = [...specBlockers(model, renderError), ...(await missingReferences(context, model))];
  if (blockers.length === 0) for (const object of desired) await context.client.apply(object);

  const minReplicas = model.spec.serving.autoscaling?.minReplicas;
  const current = servingState(
    observeDeployment(deploymentOf(context, model, model.spec.version)),
    minReplicas,
  );
  const previousActive = activeVersionIfServed(context, model);
  const served = servedVersions(model.spec.version, previousActive, current.state === "Ready");
  await context.client.apply(desiredQueryService(model, served.active));
  await deleteRetiredVersions(context, model, served.serve);

  const reports = served.serve.map((version) => versionReport(context, model, version, served.active));
  const verdict = decideModelKstatus(model.spec.version, blockers, current);
  const activeReady = reports.find((report) => report.active)?.serving.state === "Ready";
  await writeStatus(context, model, verdict, reports, activeReady ? served.active : previousActive);
  const missing = blockers.some((blocker) => blocker.reason.endsWith("NotFound"));
  return missing ? { requeueAfterMs: missingReferencePollMs } : undefined;
}

async function missingReferences(context: ReconcileContext, model: EmbeddingModel): Promise<Blocker[]> {
  const blockers: Blocker[] = [];
  for (const reference of referencedObjects(model)) {
    const type = reference.kind === "Secret" ? resourceTypes.secret : resourceTypes.persistentVolumeClaim;
    const object = await context.client.getLive(type, {
      namespace: model.metadata.namespace ?? "",
      name: reference.name,
    });
    // Only the key names of a Secret are looked at; its values never leave this function.
    const lookup: ReferenceLookup =
      object === undefined
        ? { found: false }
        : { found: true, keys: Object.keys((object.data ?? {}) as object) };
    const blocker = referenceBlocker(reference, lookup);
    if (blocker !== undefined) blockers.push(blocker);
  }
  return blockers;
}

function deploymentOf(context: ReconcileContext, model: EmbeddingModel, version: string) {
  return context.cache.get(resourceTypes.deployment, {
    namespace: model.metadata.namespace ?? "",
    name: servingName(model.metadata.name, version),
  });
}

/** status.activeVersion, while its Deployment still exists (otherwise there is nothing to keep serving). */
function activeVersionIfServed(context: ReconcileContext, model: EmbeddingModel): string | undefined {
  const active = model.status?.activeVersion;
  return active !== undefined && deploymentOf(context, model, active) !== undefined ? active : undefined;
}

function versionReport(
  context: ReconcileContext,
  model: EmbeddingModel,
  version: string,
  active: string,
): VersionReport {
  const namespace = model.metadata.namespace ?? "";
  const previous = model.status?.versions?.find((entry) => entry.version === version);
  return {
    version,
    serving: servingState(
      observeDeployment(deploymentOf(context, model, version)),
      model.spec.serving.autoscaling?.minReplicas,
    ),
    endpoint: grpcEndpoint(servingName(model.metadata.name, version), namespace),
    // The digest of the spec's version is the spec's; an older version keeps what was recorded.
    modelDigest: version === model.spec.version ? model.spec.model.sha256 : previous?.modelDigest,
    active: version === active,
  };
}

async function writeStatus(
  context: ReconcileContext,
  model: EmbeddingModel,
  verdict: Kstatus,
  reports: VersionReport[],
  activeVersion: string | undefined,
): Promise<void> {
  const previousConditions = model.status?.conditions;
  const status: EmbeddingModelStatus = modelStatus({
    generation: model.metadata.generation ?? 0,
    previousConditions,
    verdict,
    versions: reports,
    activeVersion,
    now: new Date(),
  });
  await context.client.applyStatus({
    apiVersion: model.apiVersion,
    kind: model.kind,
    metadata: { name: model.metadata.name, namespace: model.metadata.namespace },
    status,
  });
  if (findCondition(previousConditions, verdict.state)?.status !== "True") {
    const record = verdict.state === "Stalled" ? context.events.warning : context.events.normal;
    record(model, verdict.state === "Ready" ? "Ready" : verdict.reason, verdict.message);
  }
}
