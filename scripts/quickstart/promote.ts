// Act three: promote the int8 model the GitOps way — the same EmbeddingModel applied with a new
// spec.version and spec.model — then narrate the gated cutover from a watch of the object until readers
// use the new version (or the promotion stalls, which ends the quickstart with the operator's reason).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { EmbeddingModel } from "../../crds/index.ts";
import { Informer } from "../../operator/runtime/informer.ts";
import { apiListWatcher } from "../../operator/runtime/list-watcher.ts";
import { resourcePath, resourceTypes } from "../../operator/runtime/resource-types.ts";
import { silentLogger } from "../../plumbing/logger.ts";
import { promotedVersion, promotionPatch, quickstartObjects, type ManifestValues } from "./manifests.ts";
import type { Narrator } from "./narrator.ts";
import type { Platform } from "./platform.ts";
import { promotionSteps } from "./promotion-steps.ts";

/** Applies the promoted model and resolves the cutover time in seconds. */
export async function promote(
  platform: Platform,
  narrator: Narrator,
  namespace: string,
  values: ManifestValues,
  timeoutMs = 900_000,
): Promise<number> {
  const [model] = quickstartObjects("embedding-model.yaml", values) as Array<{
    spec: Record<string, unknown>;
  }>;
  const int8 = join(values.MODEL_DIR, "model.int8.onnx");
  const patch = promotionPatch(createHash("sha256").update(readFileSync(int8)).digest("hex"));
  const promoted = {
    ...model!,
    spec: {
      ...model!.spec,
      version: patch.spec.version,
      model: { ...(model!.spec.model as object), ...patch.spec.model },
    },
  };
  const informer = new Informer({
    name: "embeddingmodels.jude.dev",
    listWatcher: apiListWatcher(platform.client, resourceTypes.embeddingModel, { namespace }),
    log: silentLogger(),
  });
  // Narrate from the status as it is before the change, so only what the promotion changes is told.
  let last: EmbeddingModel["status"] = (
    await platform.client.get<EmbeddingModel>(
      resourcePath(resourceTypes.embeddingModel, namespace, "jude-minilm"),
    )
  )?.status;
  const outcome = new Promise<void>((resolve, reject) => {
    informer.on((_type, object) => {
      const current = object as unknown as EmbeddingModel;
      if (current.metadata.name !== "jude-minilm" || current.spec.version !== promotedVersion) return;
      for (const line of promotionSteps(last, current.status)) narrator.detail(line);
      last = structuredClone(current.status);
      const condition = (type: string) => current.status?.conditions?.find((each) => each.type === type);
      if (current.status?.activeVersion === promotedVersion && condition("Promoted")?.status === "True")
        resolve();
      const stalled = condition("Stalled");
      if (stalled?.status === "True")
        reject(new Error(`the promotion stalled: ${stalled.message ?? stalled.reason}`));
    });
  });
  const started = Date.now();
  await platform.client.apply(
    resourcePath(resourceTypes.embeddingModel, namespace, "jude-minilm"),
    promoted,
    "jude-quickstart",
    true,
  );
  narrator.done(`applied spec.version ${promotedVersion} (model.int8.onnx)`);
  informer.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      outcome,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no cutover to ${promotedVersion} within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await informer.stop();
  }
  const seconds = (Date.now() - started) / 1000;
  narrator.done(`readers switched to ${promotedVersion} after ${seconds.toFixed(1)} s`);
  return seconds;
}
