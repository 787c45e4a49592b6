// The JUDE CRDs installed on the testbed the way a user (or Helm) installs them — the operator never
// does —, and objects written with a status the way the operator writes it (the /status subresource).
import { join } from "node:path";
import { crdName } from "../../crds/crd.ts";
import { generatedDir, kindDefinitions } from "../../crds/generate.ts";
import { kubectl } from "./kubectl.ts";

/** Installs (or updates) the generated CRDs with server-side apply and waits until they are served. */
export async function installCrds(fieldManager = "jude-tests"): Promise<void> {
  const files = kindDefinitions.map((kind) => join(generatedDir, `${crdName(kind)}.yaml`));
  await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    `--field-manager=${fieldManager}`,
    ...files.flatMap((file) => ["-f", file]),
  ]);
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...kindDefinitions.map((kind) => `crd/${crdName(kind)}`),
  ]);
}

/**
 * Applies a JUDE object (its status dropped) into a namespace, then writes `status` through the /status
 * subresource. Returns the `kind/name` resource for further kubectl calls.
 */
export async function applyWithStatus(
  object: { kind: string; metadata: { name: string }; status?: unknown },
  namespace: string,
  status: unknown,
): Promise<string> {
  const { status: _dropped, ...rest } = object;
  await kubectl(
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    JSON.stringify({ ...rest, metadata: { name: object.metadata.name, namespace } }),
  );
  const resource = `${object.kind.toLowerCase()}/${object.metadata.name}`;
  await kubectl([
    "patch",
    "-n",
    namespace,
    resource,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
  return resource;
}
