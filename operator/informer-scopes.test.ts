// What the operator's shared informers list. Children and pods the controllers read are made by the
// operator and labelled managed-by=jude-operator; an informer without that selector holds every
// object of its type in the watched namespaces (for pods: the whole cluster's, each change waking a
// key mapper), so only the three custom resources and what users create may be listed whole.
import { expect, it } from "vitest";
import { silentLogger } from "../plumbing/logger.ts";
import { imagesFor } from "../controllers/shared/image.ts";
import { controllerFactories } from "./controllers.ts";
import { Controller } from "./runtime/controller.ts";
import { InformerCache } from "./runtime/informer-cache.ts";
import type { KubeClient } from "./runtime/kube-client.ts";
import { createOperatorMetrics } from "./runtime/metrics.ts";

it("lists only operator-managed pods and children; the custom resources whole", () => {
  const client = {} as KubeClient; // never called: the cache is not started
  const metrics = createOperatorMetrics();
  const cache = new InformerCache({ client, log: silentLogger(), metrics });
  for (const factory of Object.values(controllerFactories)) {
    const definition = factory({ images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"), concurrency: 1 });
    new Controller(definition, { client, cache, metrics, log: silentLogger() });
  }
  const scopes = Object.fromEntries(cache.scopes().map((scope) => [scope.resource, scope.managedOnly]));
  expect(scopes).toMatchObject({
    pods: true,
    "deployments.apps": true,
    services: true,
    configmaps: true,
    "jobs.batch": true,
    "embeddingmodels.jude.dev": false,
    "nearlinepipelines.jude.dev": false,
    "bootstrapruns.jude.dev": false,
  });
  const whole = Object.entries(scopes).flatMap(([resource, managedOnly]) => (managedOnly ? [] : [resource]));
  expect(whole.sort()).toEqual([
    "bootstrapruns.jude.dev",
    "embeddingmodels.jude.dev",
    "nearlinepipelines.jude.dev",
  ]);
});
