/**
 * Kubeconfigs for the testbed's API server as someone other than its admin (a service account's
 * token or token file, the admin impersonating someone), and the service accounts they stand for.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { kubectl, kubectlJson } from "./kubectl.ts";

type Entry = Record<string, unknown>;

/** The cluster and user entries of the testbed's admin kubeconfig (its current context's). */
export async function testbedAdmin(): Promise<{ cluster: Entry; user: Entry }> {
  const admin = await kubectlJson<{ clusters: { cluster: Entry }[]; users: { user: Entry }[] }>([
    "config",
    "view",
    "--raw",
    "--minify",
  ]);
  return { cluster: admin.clusters[0]!.cluster, user: admin.users[0]!.user };
}

/**
 * Writes to `file` a kubeconfig for the testbed's API server with one user and context, both named
 * `name`: the user's credentials are `user` (`{ token }`, `{ "token-file": path }`, ...), the
 * context's namespace `namespace` when given. Resolves `file`.
 */
export async function writeKubeconfig(
  file: string,
  name: string,
  user: Entry,
  namespace?: string,
): Promise<string> {
  const { cluster } = await testbedAdmin();
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "testbed", cluster }],
      users: [{ name, user }],
      contexts: [
        {
          name,
          context: { cluster: "testbed", user: name, ...(namespace === undefined ? {} : { namespace }) },
        },
      ],
      "current-context": name,
    }),
  );
  return file;
}

/** A new token of the service account `name` in `namespace`. */
export async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  return (await kubectl(["create", "token", "-n", namespace, name])).trim();
}

/**
 * Creates the service account `name` in `namespace` and a RoleBinding `name` there that grants it
 * `role` (a ClusterRole such as `view`, or a Role of `namespace`); resolves a token of it.
 */
export async function boundServiceAccount(
  namespace: string,
  name: string,
  role: { clusterRole: string } | { role: string },
): Promise<string> {
  await kubectl(["create", "serviceaccount", "-n", namespace, name]);
  await kubectl([
    "create",
    "rolebinding",
    "-n",
    namespace,
    name,
    "clusterRole" in role ? `--clusterrole=${role.clusterRole}` : `--role=${role.role}`,
    `--serviceaccount=${namespace}:${name}`,
  ]);
  return serviceAccountToken(namespace, name);
}

/**
 * Creates the service account `name` in `namespace` bound to `role` (as boundServiceAccount does) and
 * writes a kubeconfig for it, named `name`, into `folder`; resolves the kubeconfig's path.
 */
export async function serviceAccountKubeconfig(
  folder: string,
  namespace: string,
  name: string,
  role: { clusterRole: string } | { role: string },
): Promise<string> {
  const token = await boundServiceAccount(namespace, name, role);
  return writeKubeconfig(join(folder, name), name, { token }, namespace);
}

/** Creates the Role `name` in `namespace` with `rules`. */
export async function createRole(namespace: string, name: string, rules: unknown[]): Promise<void> {
  await kubectl(
    ["create", "-n", namespace, "-f", "-"],
    JSON.stringify({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace },
      rules,
    }),
  );
}

/**
 * Whether the service account `account` of `namespace` may `verb` embeddingmodels.jude.dev there, as
 * the API server answers now (`kubectl auth can-i` with impersonation; an error counts as no).
 */
export async function serviceAccountMayOnModels(
  namespace: string,
  account: string,
  verb: string,
): Promise<boolean> {
  const answer = await kubectl([
    "auth",
    "can-i",
    verb,
    "embeddingmodels.jude.dev",
    "-n",
    namespace,
    `--as=system:serviceaccount:${namespace}:${account}`,
  ]).catch(() => "no");
  return answer.trim() === "yes";
}
