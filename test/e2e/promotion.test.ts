/**
 * Promotion end to end on the testbed's local nodes, where pods really run: `jude operator` (a real
 * process, workloads placed on the local nodes) serves v1 (the fp32 model), bootstraps it from a real
 * changelog with an operator-created BootstrapRun (one shard per partition) and promotes it; then
 * spec.version moves to v2 (the int8 model, another digest) with cutover Manual: v2 is served beside
 * v1, bootstrapped, its workers catch up, the real parity measurement re-embeds through v2's Service,
 * and the pointer flips only once approved. The operator is SIGKILLed once in each phase (bootstrap,
 * catch-up, gates, flip, bake), each time after the phase shows in status, and a new process resumes.
 * A reader loops through the whole promotion, the rollback and the bake and must never miss, fail, or
 * see a vector whose model digest is not the one of the version it reports. Events produced during
 * v2's bootstrap must be in v2. The rollback's time from the reconcile that observed it to readers on
 * v1 is printed. A v3 whose digest does not match its file is Stalled at once, v1 serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEntityTextRenderer } from "../../pipelines/shared/entity-text.ts";
import {
  getVersion,
  promptDigest,
  readPointer,
  type StoreReader,
  StoreWriter,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import { condition, getObject, listObjects, type Json } from "../integration/operator/operator-harness.ts";
import { produceEvents } from "../support/kafka.ts";
import { waitFor } from "../testbed/wait.ts";
import { applyAll } from "./support/namespace.ts";
import { operatorLogLines, startOperatorProcess, type OperatorProcess } from "./support/operator-process.ts";
import { describeScene, startPromotionScene, stopPromotionScene } from "./support/promotion-scene.ts";
import {
  extract,
  jobEvent,
  promotionModel,
  sha256Of,
  template,
  watermarks,
} from "./support/promotion-objects.ts";
import { startReaderLoop, type ReaderLoop } from "./support/reader-loop.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `promotion-e2e-${suffix}`;
const storeName = `promotion-e2e-${suffix}`;
const snapshotIds = Array.from({ length: 40 }, (_, index) => `snap-${index}`);
const liveIds = Array.from({ length: 12 }, (_, index) => `live-${index}`);

let topic: string;
let operator: OperatorProcess | undefined;
let removeNamespace: (() => Promise<void>) | undefined;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;
let readers: ReaderLoop | undefined;
let bakeSeconds = 3_600;
const digests = new Map<string, string>();
const kills: string[] = [];

/**
 * Waits long: the machine is shared, and pods start real processes. A timeout says where the scene
 * stands (a full run keeps only the failure's message). Under the test's own 300 s limit, so that it
 * is this message that reports a stall.
 */
async function eventually(description: string, check: () => Promise<boolean>, timeoutMs = 270_000) {
  try {
    await waitFor(description, check, { timeoutMs, intervalMs: 500 });
  } catch (error) {
    throw new Error(`${(error as Error).message}; ${await describeScene(namespace, operator)}`, {
      cause: error,
    });
  }
}

/** SIGKILLs the operator in `phase`, does `meanwhile` while none runs, and starts a new process. */
async function killOperator(phase: string, meanwhile: () => Promise<unknown> = async () => {}) {
  await operator!.kill();
  kills.push(phase);
  await meanwhile();
  operator = await startOperatorProcess(namespace);
}

/** The model at `version` (its digest recorded for the reader's checks). */
function modelAt(version: "v1" | "v2" | "v3", promotion: Json = {}, sha256Override?: string): Json {
  const object = promotionModel(
    namespace,
    version,
    { bakeSeconds, maxLagSeconds: 120, ...promotion },
    sha256Override,
  );
  digests.set(version, `sha256:${((object.spec as Json).model as Json).sha256 as string}`);
  return object;
}

const apply = (objects: Json[]) => applyAll(namespace, objects);

const model = async () => (await getObject("embeddingmodel/minilm", namespace))!;
const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
const phaseOf = async (version: string) =>
  (await status()).versions?.find((entry) => entry.version === version)?.phase as string | undefined;
const querySelector = async () =>
  (
    ((await getObject("service/minilm", namespace))?.spec as Json | undefined)?.selector as Json | undefined
  )?.["jude.dev/version"];
const pointer = async () => (await readPointer(store)).current;

/** One entity only v1 holds (written beside its workers): v2's coverage stays under 0.99 meanwhile. */
async function heldInV1(kind: "upsert" | "delete", eventTimeMs: number): Promise<void> {
  const base = { entity: "job", id: "held-0", version: "v1", eventTimeMs, offset: 0, partition: -1 };
  await new StoreWriter(store).write([
    kind === "upsert"
      ? {
          ...base,
          kind,
          vector: new Float32Array(384).fill(1 / Math.sqrt(384)),
          modelDigest: digests.get("v1")!,
          contentHash: "held",
        }
      : { ...base, kind },
  ]);
}

beforeAll(async () => {
  ({ topic, redis, store, reader, operator, removeNamespace } = await startPromotionScene({
    namespace,
    topicPrefix: "promotion-e2e-jobs",
    storeName,
    snapshotIds,
    firstModel: modelAt("v1"),
  }));
}, 120_000);

afterAll(async () => {
  await readers?.stop();
  await stopPromotionScene({ operator, reader, redis, removeNamespace });
});

describe("promotion on the local nodes with real pods and data, the operator killed in each phase", () => {
  it("bootstraps v1 from the changelog with an operator-created run, one shard per partition", async () => {
    await eventually("v1 active", async () => (await status()).activeVersion === "v1");
    expect(await pointer()).toBe("v1");
    expect(await querySelector()).toBe("v1");
    expect(condition(await model(), "Promoted")?.status).toBe("True");
    const run = await getObject("bootstraprun/jobs-v1-promotion", namespace);
    expect((run?.status as Json).phase).toBe("Succeeded");
    expect((run?.spec as Json).parallelism).toBe(2);
    const hits = await reader.getMany("job", snapshotIds);
    expect(hits.filter((hit) => hit?.version === "v1" && hit.modelDigest === digests.get("v1"))).toHaveLength(
      snapshotIds.length,
    );
    // The shards and workers registered v1 with the spec's template: the operator, comparing the spec
    // with it whenever v1 is the pointer's (the rollback below), finds them the same.
    expect((await getVersion(store, "v1"))?.prompts).toEqual({ job: promptDigest(template) });
    readers = startReaderLoop(reader, "job", snapshotIds, digests);
  });

  it("promotes v2 (int8) beside v1 across a SIGKILL in bootstrap, catch-up, gates and flip", async () => {
    await heldInV1("upsert", 1);
    await apply([modelAt("v2", { cutover: "Manual" })]);
    // Bootstrap: once v2's snapshot position is captured, events produced lie past it, so only v2's
    // workers (started from it) can bring them into v2 — produced while no operator runs.
    await eventually("v2 bootstrapping, its snapshot captured", async () => {
      const run = await getObject("bootstraprun/jobs-v2-promotion", namespace);
      return (await phaseOf("v2")) === "Bootstrapping" && watermarks(run).length > 0;
    });
    const captured = watermarks(await getObject("bootstraprun/jobs-v2-promotion", namespace));
    await killOperator("bootstrap", () =>
      produceEvents(
        topic,
        liveIds.map((id, index) => jobEvent(id, 100 + index, `Live role ${index}`)),
      ),
    );
    await eventually("v2 catching up (coverage held under its gate)", async () => {
      if ((await phaseOf("v2")) === "Failed") throw new Error(JSON.stringify((await model()).status));
      return (
        (await phaseOf("v2")) === "CatchingUp" &&
        condition(await model(), "CoverageMet")?.reason === "CoverageBelowGate"
      );
    });
    await killOperator("catch-up", () => heldInV1("delete", 2));
    await eventually("v2 awaiting cutover", async () => {
      const phase = await phaseOf("v2");
      if (phase === "Failed") throw new Error(`v2 failed: ${JSON.stringify((await model()).status)}`);
      return phase === "AwaitingCutover";
    });
    await killOperator("gates");
    const gates = await model();
    for (const gate of ["ServingReady", "BootstrapComplete", "CaughtUp", "CoverageMet", "ParityPassed"])
      expect(condition(gates, gate)?.status, gate).toBe("True");
    // The real measurement: keys of v2 re-embedded through v2's Service, all matching.
    const [, matched, sampled] = /(\d+)\/(\d+) sampled vectors matched/.exec(
      condition(gates, "ParityPassed")?.message ?? "",
    ) ?? [undefined, "0", "-1"];
    expect(Number(sampled)).toBeGreaterThan(0);
    expect(matched).toBe(sampled);
    expect(await pointer()).toBe("v1");
    expect(await querySelector()).toBe("v1");

    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await waitFor("the pointer on v2", async () => (await pointer()) === "v2", {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    await killOperator("flip");
    await eventually("v2 active, v1 draining", async () => {
      const versions = (await status()).versions ?? [];
      const phase = (version: string) => versions.find((entry) => entry.version === version)?.phase;
      return (
        (await status()).activeVersion === "v2" && phase("v2") === "Active" && phase("v1") === "Draining"
      );
    });
    expect(await querySelector()).toBe("v2");
    await eventually("the reader on v2", async () => readers!.versionsSeen().has("v2"), 30_000);

    // Every live event is in v2 with the text of its event (its content hash), under v2's digest.
    const render = createEntityTextRenderer({ extract, template, modelVersion: "v2" });
    const metas = await new StoreWriter(store).readMeta(
      "v2",
      liveIds.map((id) => ({ entity: "job", id })),
    );
    liveIds.forEach((id, index) => {
      const document = jobEvent(id, 100 + index, `Live role ${index}`).value;
      expect(metas[index]?.contentHash, id).toBe(render(document).hash);
      const from = captured.find((entry) => entry.partition === metas[index]?.partition)?.offset;
      expect(Number(metas[index]?.offset), id).toBeGreaterThanOrEqual(from ?? Infinity);
    });
    const liveHits = await reader.getMany("job", liveIds, { version: "v2" });
    expect(liveHits.every((hit) => hit?.modelDigest === digests.get("v2"))).toBe(true);
    expect(kills).toEqual(["bootstrap", "catch-up", "gates", "flip"]);
    expect((await getVersion(store, "v2"))?.prompts).toEqual({ job: promptDigest(template) });
  }, 900_000);

  it("rolls back to v1 in the reconcile that observes the revert: no bootstrap, readers on v1", async () => {
    // Every run that ever filled v1 (the operator labels its runs with the version).
    const runsOfV1 = async () =>
      (await listObjects("bootstrapruns", namespace, "jude.dev/version=v1")).map(
        (run) => (run.metadata as Json).uid,
      );
    const [v1Run] = await runsOfV1();
    const appliedAtMs = Date.now();
    await apply([modelAt("v1", { cutover: "Manual", approvedVersion: "v2" })]);
    await waitFor("the pointer back on v1", async () => (await pointer()) === "v1", {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    await eventually("query Service on v1", async () => (await querySelector()) === "v1", 60_000);
    await eventually("RolledBack", async () => condition(await model(), "RolledBack")?.status === "True");
    // v1 is the pointer's version again: the spec's template is the one its writers registered.
    expect(condition(await model(), "Stalled")?.reason).not.toBe("VersionRedefined");
    const [switched] = operatorLogLines(operator!, "store pointer switched").filter(
      (entry) => entry.kind === "rollback" && entry.to === "v1",
    ) as { reconcileStartedAtMs: number; switchedAtMs: number }[];
    expect(switched).toBeDefined();
    // Readers: from their first round on v1 after the switch, every round is on v1 only.
    await eventually("reader rounds on v1", async () =>
      readers!.rounds.some((round) => round.startMs > switched!.switchedAtMs + 200),
    );
    const after = readers!.rounds.filter((round) => round.endMs >= switched!.reconcileStartedAtMs);
    const firstOnV1 = after.findIndex((round) => round.versions.join() === "v1");
    expect(firstOnV1).toBeGreaterThanOrEqual(0);
    expect(after.slice(firstOnV1).every((round) => round.versions.join() === "v1")).toBe(true);
    const seenAtMs = after[firstOnV1]!.endMs;
    process.stdout.write(
      `rollback to v1: reconcile start -> pointer switched ${switched!.switchedAtMs - switched!.reconcileStartedAtMs} ms, ` +
        `-> readers on v1 ${seenAtMs - switched!.reconcileStartedAtMs} ms (kubectl apply -> readers ${seenAtMs - appliedAtMs} ms)\n`,
    );
    // No bootstrap: v1's only BootstrapRun is still the one of its first promotion.
    expect(v1Run).toBeDefined();
    expect(await runsOfV1()).toEqual([v1Run]);
    expect(readers!.anomalies.slice(0, 5)).toEqual([]);
  });

  it("finishes the bake after a SIGKILL while v2 drains: v2's workloads go, its vectors stay", async () => {
    await eventually("v2 draining", async () => (await phaseOf("v2")) === "Draining");
    // The bake is an hour; the new process sees it shortened to a second and must end it.
    bakeSeconds = 1;
    await killOperator("bake", () => apply([modelAt("v1", { cutover: "Manual", approvedVersion: "v2" })]));
    await eventually("v2 retained", async () => (await phaseOf("v2")) === "Retained");
    await eventually(
      "v2's serving removed",
      async () => !(await getObject("deployment/minilm-v2", namespace)),
    );
    expect((await readPointer(store)).backup).toBe("v2");
    expect(await pointer()).toBe("v1");
    await readers!.stop();
    expect(readers!.rounds.length).toBeGreaterThan(20);
    expect(readers!.anomalies.slice(0, 5)).toEqual([]);
    expect([...readers!.versionsSeen()].sort()).toEqual(["v1", "v2"]);
    expect(kills).toEqual(["bootstrap", "catch-up", "gates", "flip", "bake"]);
  });

  it("keeps v1 serving while a v3 whose digest does not match its file is Stalled at once", async () => {
    // The default progress deadline (an hour) is far away: the pods' digest check decides.
    await apply([modelAt("v3", {}, sha256Of("model.onnx"))]);
    // fetch-model exits 3 on a digest mismatch; a checkout older than that exits 1, and only the
    // deadline would stall: say so at once instead of timing out.
    let exitedOne = false;
    await eventually("v3 Stalled", async () => {
      const [pod] = await listObjects("pods", namespace, "jude.dev/version=v3");
      const fetch = ((pod?.status as Json | undefined)?.initContainerStatuses as Json[] | undefined)?.[0];
      const ended = ((fetch?.state as Json)?.terminated ?? (fetch?.lastState as Json)?.terminated) as Json;
      exitedOne = ended?.exitCode === 1;
      return exitedOne || condition(await model(), "Stalled")?.status === "True";
    });
    expect(exitedOne, "v3's fetch-model exited 1: the local nodes run a checkout without exit code 3").toBe(
      false,
    );
    const stalled = condition(await model(), "Stalled");
    expect(stalled?.reason).toBe("ModelDigestMismatch");
    expect(stalled?.message).toContain(
      "ServingReady: version v3: the model file does not match spec.model.sha256",
    );
    expect(stalled?.message).toContain("version v1 keeps serving");
    expect((await status()).activeVersion).toBe("v1");
    expect(await pointer()).toBe("v1");
    expect(await querySelector()).toBe("v1");
    const hits = await reader.getMany("job", snapshotIds);
    expect(hits.every((hit) => hit?.version === "v1" && hit.modelDigest === digests.get("v1"))).toBe(true);
  });

  it("stops gracefully on SIGTERM: the operator process exits 0 after its drain", async () => {
    const stopping = operator!;
    operator = undefined;
    expect(await stopping.stop()).toBe(0);
  });
});
