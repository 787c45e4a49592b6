// The Helm chart's RBAC is derived from what the controllers call: every controller's primary,
// owned and watched types, the objects it reads live, its status writes, Events and the leader Lease
// must be granted by charts/jude-operator/templates/rbac.yaml, so a new controller or child kind
// without its RBAC fails here instead of in a cluster.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { perVersionTypes } from "../controllers/embedding-model/retire-versions.ts";
import { imagesFor } from "../controllers/shared/image.ts";
import { controllerFactories } from "./controllers.ts";
import { resourceTypes, type ResourceType } from "./runtime/resource-types.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const template = readFileSync(
  join(import.meta.dirname, "../charts/jude-operator/templates/rbac.yaml"),
  "utf8",
);

/** The rules of the controllers' (Cluster)Role: the YAML inside the "jude-operator.rules" define. */
function controllerRules(): Rule[] {
  const body = /\{\{- define "jude-operator\.rules" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(template)?.[1];
  if (body === undefined) throw new Error("rbac.yaml has no jude-operator.rules define");
  return parse(body) as Rule[];
}

/** The leader-election Role's rules (plain YAML after its `rules:` key). */
function leaderElectionRules(): Rule[] {
  const block = /-leader-election\n[\s\S]*?rules:\n([\s\S]*?)\n---/.exec(template)?.[1];
  if (block === undefined) throw new Error("rbac.yaml has no leader-election Role");
  return parse(block) as Rule[];
}

function grants(rules: Rule[], type: ResourceType, verb: string, subresource?: string): boolean {
  const resource = subresource === undefined ? type.plural : `${type.plural}/${subresource}`;
  return rules.some(
    (rule) =>
      rule.apiGroups.includes(type.group) && rule.resources.includes(resource) && rule.verbs.includes(verb),
  );
}

/** Every (type, verb, subresource) the controllers need, from their definitions. */
function requiredPermissions(): Array<[ResourceType, string, string?]> {
  const settings = { images: imagesFor("ghcr.io/jude-dev/jude", "test"), concurrency: 1 };
  const required: Array<[ResourceType, string, string?]> = [];
  for (const factory of Object.values(controllerFactories)) {
    const definition = factory(settings);
    for (const verb of ["list", "watch"]) required.push([definition.primary, verb]);
    // Read live before a child is adopted (the owner could be being deleted with --cascade=orphan
    // under a lagging cache: controller-client.ts, OwnerDeleted); children are owned by the primary.
    required.push([definition.primary, "get"]);
    required.push([definition.primary, "patch", "status"]);
    for (const owned of definition.owns ?? []) {
      for (const verb of ["list", "watch"]) required.push([owned, verb]);
      // Worker pods are owned only to be watched (the pipeline reads their figures), never written.
      // Children are applied (create + patch); deletes are listed below, per call.
      if (owned !== resourceTypes.pod) for (const verb of ["create", "patch"]) required.push([owned, verb]);
    }
    for (const watched of definition.watches ?? [])
      for (const verb of ["list", "watch"]) required.push([watched.type, verb]);
  }
  // Read live (context.client.getLive): referenced Secrets and model claims (never watched), the run
  // right before it is marked finished, a model before a pointer switch and a store claim's owner, and
  // version records (record-reader.ts). Every other type is only listed and watched.
  for (const type of [
    resourceTypes.secret,
    resourceTypes.persistentVolumeClaim,
    resourceTypes.bootstrapRun,
    resourceTypes.embeddingModel,
    resourceTypes.configMap,
  ])
    required.push([type, "get"]);
  for (const verb of ["create", "patch"]) required.push([resourceTypes.event, verb]);
  // Listed live (bootstrap-run/reconcile.ts): a Job's FailedCreate Events say why its pods are refused.
  required.push([resourceTypes.event, "list"]);
  // The only deletes (context.client.delete): a retired version's serving objects
  // (embedding-model/retire-versions.ts), an HPA when replicas are set by hand
  // (replicas-ownership.ts), the worker Deployments and ConfigMaps of a version no longer live
  // (nearline-pipeline/reconcile.ts), a promotion's BootstrapRun rebuilt (promotion-act.ts), and a
  // bootstrap Job writing to a store its pipeline left (bootstrap-run/reconcile.ts; otherwise the
  // garbage collector removes Jobs with their BootstrapRun).
  for (const type of [
    ...perVersionTypes,
    resourceTypes.horizontalPodAutoscaler,
    resourceTypes.deployment,
    resourceTypes.configMap,
    resourceTypes.bootstrapRun,
    resourceTypes.job,
  ])
    required.push([type, "delete"]);
  return required;
}

describe("the chart's RBAC", () => {
  it("grants every call the controllers make", () => {
    const rules = controllerRules();
    const missing = requiredPermissions()
      .filter(([type, verb, subresource]) => !grants(rules, type, verb, subresource))
      .map(
        ([type, verb, subresource]) =>
          `${verb} ${type.plural}${subresource ? `/${subresource}` : ""}.${type.group}`,
      );
    expect(missing).toEqual([]);
  });

  it("grants nothing the controllers do not call", () => {
    const required = requiredPermissions().map(
      ([type, verb, subresource]) =>
        `${verb} ${type.plural}${subresource ? `/${subresource}` : ""}.${type.group}`,
    );
    const unused = controllerRules().flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) =>
          rule.verbs
            .map((verb) => `${verb} ${resource}.${group}`)
            .filter((grant) => {
              if (required.includes(grant)) return false;
              // Owner references with blockOwnerDeletion need update on the owner's finalizers.
              return !(grant.startsWith("update ") && resource.endsWith("/finalizers"));
            }),
        ),
      ),
    );
    expect(unused).toEqual([]);
  });

  it("grants leader election on Leases in the release namespace only", () => {
    const lease = {
      group: "coordination.k8s.io",
      version: "v1",
      kind: "Lease",
      plural: "leases",
      namespaced: true,
    };
    for (const verb of ["get", "create", "update"])
      expect(grants(leaderElectionRules(), lease, verb)).toBe(true);
    // The elector writes no Events; the controllers record theirs in the watched namespaces.
    expect(leaderElectionRules()).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
    ]);
    expect(controllerRules().some((rule) => rule.resources.includes("leases"))).toBe(false);
  });

  it("grants no wildcard and no list of Secrets", () => {
    const rules = [...controllerRules(), ...leaderElectionRules()];
    for (const rule of rules)
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain("*");
    expect(grants(rules, resourceTypes.secret, "list")).toBe(false);
    expect(grants(rules, resourceTypes.secret, "watch")).toBe(false);
  });
});
