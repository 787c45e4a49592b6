/**
 * Awkward user actions during a promotion on the local nodes, with real pods and data (`jude operator`
 * as a process, real serving, bootstrap and worker pods, Kafka, Redis):
 * - the candidate's BootstrapRun deleted by hand mid-run: the operator makes a new one, one Job runs,
 *   and nothing produced meanwhile is lost;
 * - cutover Manual with approvedVersion naming another version: no flip until it names the candidate;
 * - the operator SIGKILLed during the bake: the bake keeps its start, no second flip;
 * - spec.version changed again before the cutover (v2 -> v3 -> v4) and then back to the active version
 *   (v4 -> v2): nothing of v3 or v4 is left (serving, workers, runs, Jobs, pods, records, vectors) and
 *   the pointer never leaves v2;
 * - a rollback to a version whose vectors were collected: a new run (not the first build's Succeeded
 *   one, nor its finished Job) bootstraps it again before it is promoted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getVersion,
  readPointer,
  type StoreReader,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import { condition, getObject, listObjects, type Json } from "../integration/operator/operator-harness.ts";
import { kubectl } from "../support/kubectl.ts";
import { produceEvents } from "../support/kafka.ts";
import { waitFor } from "../testbed/wait.ts";
import { applyAll } from "./support/namespace.ts";
import { startOperatorProcess, type OperatorProcess } from "./support/operator-process.ts";
import { startPromotionScene, stopPromotionScene } from "./support/promotion-scene.ts";
import { jobEvent, template, watermarks } from "./support/promotion-objects.ts";
import { testbedModel } from "./support/testbed-model.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `promotion-interrupts-${suffix}`;
const storeName = `promotion-interrupts-${suffix}`;
const snapshotIds = Array.from({ length: 40 }, (_, index) => `snap-${index}`);
const liveIds = Array.from({ length: 12 }, (_, index) => `live-${index}`);
/** Each version's prompt: v3 and v4 serve the same int8 file as v2 with other prompts. */
const prompts: Record<string, string> = {
  v1: template,
  v2: template,
  v3: "Role: {{title}} ({{company}})",
  v4: "Opening: {{title}}, {{company}}",
};

let topic: string;
let operator: OperatorProcess | undefined;
let removeNamespace: (() => Promise<void>) | undefined;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;

const eventually = (description: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
  waitFor(description, check, { timeoutMs, intervalMs: 500 });

function modelAt(version: string, promotion: Json = {}): Json {
  return testbedModel(namespace, {
    version,
    file: version === "v1" ? "model.onnx" : "model.int8.onnx",
    prompts: { job: prompts[version]! },
    promotion: { bakeSeconds: 3_600, maxLagSeconds: 120, ...promotion },
  });
}
const apply = (objects: Json[]) => applyAll(namespace, objects);
const model = async () => (await getObject("embeddingmodel/minilm", namespace))!;
const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
const phaseOf = async (version: string) =>
  (await status()).versions?.find((entry) => entry.version === version)?.phase as string | undefined;
const pointer = () => readPointer(store);
const uid = (object: Json | undefined) => (object?.metadata as Json | undefined)?.uid as string | undefined;
const run = (version: string) => getObject(`bootstraprun/jobs-${version}-promotion`, namespace);

/** Everything in the namespace labelled with `version`, by kind. */
async function leftovers(version: string): Promise<string[]> {
  const found: string[] = [];
  for (const resource of ["deployments", "services", "configmaps", "jobs", "pods", "bootstrapruns"])
    for (const object of await listObjects(resource, namespace, `jude.dev/version=${version}`))
      found.push(`${resource}/${(object.metadata as Json).name as string}`);
  if ((await getVersion(store, version)) !== null) found.push(`store version ${version}`);
  return found;
}

/** Fails at once when the candidate stalls instead of waiting out the timeout. */
async function phaseIs(version: string, phase: string): Promise<boolean> {
  const stalled = condition(await model(), "Stalled");
  if (stalled?.status === "True") throw new Error(`Stalled: ${stalled.message as string}`);
  return (await phaseOf(version)) === phase;
}

beforeAll(async () => {
  ({ topic, redis, store, reader, operator, removeNamespace } = await startPromotionScene({
    namespace,
    topicPrefix: "promotion-interrupts",
    storeName,
    snapshotIds,
    firstModel: modelAt("v1"),
  }));
}, 120_000);

afterAll(async () => {
  await stopPromotionScene({ operator, reader, redis, removeNamespace });
});

describe("a promotion interrupted by its user, on the local nodes", () => {
  it("promotes v1", async () => {
    await eventually("v1 active", async () => (await status()).activeVersion === "v1");
    expect((await pointer()).current).toBe("v1");
  });

  it("recreates a BootstrapRun deleted mid-run, loses nothing, and flips only once v2 is approved", async () => {
    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v3" })]);
    await eventually("v2's run captured its snapshot", async () => watermarks(await run("v2")).length > 0);
    const first = uid(await run("v2"));
    await kubectl(["delete", "-n", namespace, "bootstraprun/jobs-v2-promotion"]);
    await produceEvents(
      topic,
      liveIds.map((id, index) => jobEvent(id, 100 + index, `Live role ${index}`)),
    );
    await eventually("a new run of v2", async () => {
      const next = uid(await run("v2"));
      return next !== undefined && next !== first;
    });
    await eventually("v2 awaiting cutover", () => phaseIs("v2", "AwaitingCutover"));
    // approvedVersion names v3: nothing flips.
    expect((await pointer()).current).toBe("v1");
    const jobs = await listObjects("jobs", namespace, "jude.dev/version=v2");
    expect(jobs.map((job) => ((job.metadata as Json).ownerReferences as Json[])[0]?.uid)).toEqual([
      uid(await run("v2")),
    ]);
    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await eventually("the pointer on v2", async () => (await pointer()).current === "v2", 120_000);
    const hits = await reader.getMany("job", [...snapshotIds, ...liveIds], { version: "v2" });
    const missing = [...snapshotIds, ...liveIds].filter((_, index) => hits[index] === null);
    expect(missing).toEqual([]);
  }, 900_000);

  it("keeps the bake's start and the pointer across an operator SIGKILL while v1 drains", async () => {
    await eventually("v1 draining", async () => (await phaseOf("v1")) === "Draining");
    const deactivated = async () =>
      ((await getObject("configmap/minilm-v1-record", namespace))?.data as Json).deactivatedTime;
    const before = { deactivated: await deactivated(), epoch: (await pointer()).epoch };
    expect(before.deactivated).toBeDefined();
    await operator!.kill();
    operator = await startOperatorProcess(namespace);
    // A spec change the new process must observe: once its status shows the new generation, it has
    // decided from the records and the pointer it read back.
    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v2", bakeSeconds: 3_599 })]);
    await eventually("the new process observed the change", async () => {
      const object = await model();
      const observed = (object.status as Json).observedGeneration;
      return observed === (object.metadata as Json).generation;
    });
    expect(await phaseOf("v1")).toBe("Draining");
    expect({ deactivated: await deactivated(), epoch: (await pointer()).epoch }).toEqual(before);
    expect((await pointer()).current).toBe("v2");
  });

  it("v2 -> v3 -> v4 before v3's cutover, then back to v2: nothing of v3 or v4 is left", async () => {
    const epoch = (await pointer()).epoch;
    await apply([modelAt("v3", { cutover: "Manual" })]);
    await eventually("v3's workers running", async () =>
      (await listObjects("pods", namespace, "jude.dev/version=v3,app.kubernetes.io/component=nearline")).some(
        (pod) => (pod.status as Json).phase === "Running",
      ),
    );
    await apply([modelAt("v4", { cutover: "Manual" })]);
    await eventually("nothing of v3 left", async () => (await leftovers("v3")).length === 0);
    await eventually("v4's run captured its snapshot", async () => watermarks(await run("v4")).length > 0);
    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await eventually("nothing of v4 left", async () => (await leftovers("v4")).length === 0);
    expect(await pointer()).toMatchObject({ current: "v2", epoch });
    expect(await phaseOf("v2")).toBe("Active");
  }, 900_000);

  it("rolls back to v1 after its vectors were collected: bootstrapped anew by a new run and its own Job", async () => {
    const shortLived = { bakeSeconds: 1, retainVersions: 0 };
    await apply([modelAt("v3", shortLived)]);
    await eventually("v3 active", async () => {
      if (condition(await model(), "Stalled")?.status === "True")
        throw new Error(JSON.stringify(condition(await model(), "Stalled")));
      return (await status()).activeVersion === "v3";
    });
    // v2 is the pointer's backup; v1, beyond retainVersions 0, is collected once its workers are gone.
    await eventually("v1's vectors collected", async () => (await getVersion(store, "v1")) === null);
    const firstRun = uid(await run("v1"));
    expect(firstRun).toBeDefined();

    await apply([modelAt("v1", shortLived)]);
    await eventually("v1 active again", async () => {
      if (condition(await model(), "Stalled")?.status === "True")
        throw new Error(JSON.stringify(condition(await model(), "Stalled")));
      return (await status()).activeVersion === "v1";
    });
    const rebuilt = await run("v1");
    expect(uid(rebuilt)).not.toBe(firstRun);
    expect(watermarks(rebuilt).length).toBeGreaterThan(0);
    const hits = await reader.getMany("job", [...snapshotIds, ...liveIds]);
    expect(hits.filter((hit) => hit?.version !== "v1").length).toBe(0);
    expect((await pointer()).current).toBe("v1");
  }, 900_000);
});
