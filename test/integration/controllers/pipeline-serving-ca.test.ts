// A model served over TLS whose Secret has no ca.crt: a certificate from a CA the system roots already
// hold (cert-manager's ACME issuer, a corporate CA baked into the image), as `kubectl create secret tls`
// writes it. The serving pods need only tls.crt and tls.key, and the operator's parity check trusts the
// system roots without a ca.crt; the pipeline's workers must too, not stall on the missing key. With
// the NearlinePipeline controller in-process against the testbed's API server.
import type { V1Deployment } from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nearlineConfigSchema } from "../../../pipelines/nearline/config.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { mountedConfigMap } from "../../support/config-maps.ts";
import { kubectl } from "../../support/kubectl.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

/** Secrets are not watched: a written one is seen at the pipeline's next poll. */
const pipelinePollMs = 2_000;

// Placeholders: the operator reads only the key names, nothing here parses the certificate.
const pem = (label: string) => `-----BEGIN ${label}-----\nY2F0bHM=\n-----END ${label}-----\n`;

describe("a serving TLS Secret without ca.crt", () => {
  let harness: ControllersHarness;
  let topic: string;
  const deploymentName = "deployment/jobs-minilm-v1-nearline";
  const hashOf = (deployment: V1Deployment) =>
    deployment.spec!.template.metadata!.annotations!["jude.dev/config-hash"];
  const rendered = async () => {
    const configMap = await mountedConfigMap(harness.namespace, "jobs-minilm-v1-nearline");
    return nearlineConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
  };
  const volumeNames = (deployment: V1Deployment) =>
    (deployment.spec!.template.spec!.volumes ?? []).map((volume) => volume.name);

  beforeAll(async () => {
    harness = await startControllers("catls-serving-ca", { settings: { pipelinePollMs } });
    topic = uniqueTopic("catls-changelog");
    await createTopics([topic], 1);
    const served = model();
    ((served.spec as Record<string, unknown>).serving as Record<string, unknown>).tls = {
      secretName: "jude-minilm-tls",
    };
    await applyObjects(harness.namespace, [
      storeSecret(),
      {
        apiVersion: "v1",
        kind: "Secret",
        type: "kubernetes.io/tls",
        metadata: { name: "jude-minilm-tls" },
        stringData: { "tls.crt": pem("CERTIFICATE"), "tls.key": pem("PRIVATE KEY") },
      },
      served,
    ]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("runs the workers trusting the system roots, and mounts ca.crt once it is added", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs", topic)]);
    const judged = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "the pipeline's Stalled condition",
      (object) => conditionOf(object, "Stalled") !== undefined,
    );
    // Before: Stalled SecretNotFound, "names key ca.crt of Secret jude-minilm-tls, which has no such key".
    expect(conditionOf(judged, "Stalled")).toMatchObject({ status: "False" });
    const withoutCa = await waitForObject<V1Deployment>(ns, deploymentName, "worker Deployment", () => true);
    // TLS stays on with no CA file: the worker's gRPC client verifies the server with the system roots.
    expect((await rendered()).embedding.tls).toEqual({});
    expect(volumeNames(withoutCa)).not.toContain("serving-ca");

    // A private CA added later (the certificate re-issued by an in-cluster issuer): the workers roll onto it.
    await kubectl([
      "patch",
      "-n",
      ns,
      "secret/jude-minilm-tls",
      "--type=merge",
      "-p",
      JSON.stringify({ stringData: { "ca.crt": pem("CERTIFICATE") } }),
    ]);
    const withCa = await waitForObject<V1Deployment>(
      ns,
      deploymentName,
      "a new config hash once ca.crt exists",
      (deployment) => hashOf(deployment) !== hashOf(withoutCa),
    );
    expect((await rendered()).embedding.tls).toEqual({ caFile: "/var/run/jude/secrets/serving-ca/ca.crt" });
    expect(volumeNames(withCa)).toContain("serving-ca");

    // And removed again: no pod is left mounting a key that no longer exists.
    await kubectl([
      "patch",
      "-n",
      ns,
      "secret/jude-minilm-tls",
      "--type=json",
      "-p",
      JSON.stringify([{ op: "remove", path: "/data/ca.crt" }]),
    ]);
    const removed = await waitForObject<V1Deployment>(
      ns,
      deploymentName,
      "the config hash back once ca.crt is gone",
      (deployment) => hashOf(deployment) === hashOf(withoutCa),
    );
    expect(volumeNames(removed)).not.toContain("serving-ca");
    expect((await rendered()).embedding.tls).toEqual({});
  });

  it("still stalls when the serving TLS Secret itself does not exist", async () => {
    const ns = harness.namespace;
    await kubectl(["delete", "-n", ns, "secret/jude-minilm-tls"]);
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "Stalled",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")).toMatchObject({ reason: "SecretNotFound" });
    expect(conditionOf(stalled, "Stalled")?.message).toContain(
      "spec.serving.tls.secretName names Secret jude-minilm-tls, which does not exist",
    );
  });
});
