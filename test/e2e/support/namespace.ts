// The namespace every end-to-end test on the local nodes starts from: the CRDs installed, a namespace
// that enforces the restricted Pod Security Standard, the `store` Secret the pipelines' sinks name (the
// testbed's Redis), and the `model` claim bound to the testbed's model folder (the local-node
// convention: pods read the real ONNX files through it). Removed again, with its PersistentVolume,
// when the test ends.
import {
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  type Json,
} from "../../integration/operator/operator-harness.ts";
import { modelVolume } from "../../integration/testbed/local-nodes/serving-manifests.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";

/** The Secret and key a pipeline's store sink references. */
export const storeSecretRef = { name: "store", key: "url" } as const;

/** Server-side applies `objects` in `namespace` as the e2e user (forcing its own earlier fields). */
export async function applyAll(namespace: string, objects: readonly Json[]): Promise<void> {
  await kubectl(
    ["apply", "--server-side", "--force-conflicts", "--field-manager=jude-e2e", "-n", namespace, "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

/**
 * Creates `namespace` with the store Secret and the model claim; returns its cleanup. With `cluster`
 * the Secret holds the testbed's Redis Cluster seed nodes (for `spec.sinks.store.cluster: true`).
 */
export async function createE2eNamespace(
  namespace: string,
  options: { cluster?: boolean } = {},
): Promise<() => Promise<void>> {
  await installCrds();
  await createRestrictedNamespace(namespace);
  await applyAll(namespace, [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: storeSecretRef.name },
      stringData: {
        [storeSecretRef.key]: requireEnv(
          options.cluster === true ? "JUDE_REDIS_CLUSTER_NODES" : "JUDE_REDIS_URL",
        ),
      },
    },
    ...(modelVolume(namespace, requireEnv("JUDE_MODEL_DIR")) as Json[]),
  ]);
  return async () => {
    await deleteNamespace(namespace);
    await kubectl(["delete", "persistentvolume", `${namespace}-model`, "--wait=false", "--ignore-not-found"]);
  };
}
