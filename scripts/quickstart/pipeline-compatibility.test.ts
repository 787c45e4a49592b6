// The generated changelog read by the pipelines' own decode and prompt code, configured from
// examples/quickstart: every event decodes, deletes are deletes, no-op updates hash like the snapshot
// record they follow and updates do not, and the snapshot's duplicate texts are exactly those the
// bootstrap can deduplicate. This is what makes the e2e test's expected figures exact.
import { describe, expect, it } from "vitest";
import { parseEmbeddingModel, parseNearlinePipeline } from "../../crds/index.ts";
import { createDecoder } from "../../pipelines/shared/decode.ts";
import { createEntityTextRenderer } from "../../pipelines/shared/entity-text.ts";
import { expectedFigures, generateChangelog, type EntityKind } from "./changelog.ts";
import { quickstartObjects, type ManifestValues } from "./manifests.ts";
import { changelogTopics, toRecord } from "./records.ts";

const values: ManifestValues = {
  NAMESPACE: "qs",
  MODEL_DIR: "/m",
  MODEL_SHA256: "0".repeat(64),
  KAFKA_BOOTSTRAP: "127.0.0.1:9092",
  JOBS_TOPIC: changelogTopics.job,
  MEMBERS_TOPIC: changelogTopics["member-profile"],
  STORE_NAME: "qs",
};

const model = parseEmbeddingModel(quickstartObjects("embedding-model.yaml", values)[0]);
const readers = Object.fromEntries(
  (["nearline-pipeline-jobs.yaml", "nearline-pipeline-member-profiles.yaml"] as const).map((file) => {
    const pipeline = parseNearlinePipeline(quickstartObjects(file, values)[0]);
    const decode = createDecoder(pipeline.spec.decode);
    const render = createEntityTextRenderer({
      extract: pipeline.spec.extract,
      template: model.spec.prompts[pipeline.spec.entity]!,
      modelVersion: model.spec.version,
    });
    return [pipeline.spec.entity, { decode, render }];
  }),
) as Record<
  EntityKind,
  { decode: ReturnType<typeof createDecoder>; render: ReturnType<typeof createEntityTextRenderer> }
>;

describe("the generated changelog through the pipelines' decode and prompt code", () => {
  const changelog = generateChangelog();
  const read = (event: (typeof changelog.snapshot)[number]) => {
    const record = toRecord(event, Date.UTC(2026, 11, 2));
    const result = readers[event.kind].decode({
      key: Buffer.from(record.key),
      value: Buffer.from(record.value),
      timestamp: 0,
      partition: 0,
      offset: 0n,
    });
    if (!result.ok) throw new Error(`${event.id}: ${result.failure.reason}`);
    return result.change;
  };
  const hashOf = (event: (typeof changelog.snapshot)[number]) => {
    const change = read(event);
    if (change.op !== "upsert") throw new Error(`${event.id} is not an upsert`);
    expect(change.id).toBe(event.id);
    return readers[event.kind].render(change.document).hash;
  };

  it("hashes no-op updates like the snapshot record and updates differently; deletes are deletes", () => {
    const snapshotHash = new Map(
      changelog.snapshot.map((event) => [`${event.kind}/${event.id}`, hashOf(event)]),
    );
    for (const event of changelog.replay) {
      const previous = snapshotHash.get(`${event.kind}/${event.id}`);
      if (event.op === "delete") expect(read(event)).toMatchObject({ op: "delete", id: event.id });
      else if (event.op === "noop") expect(hashOf(event)).toBe(previous);
      else if (event.op === "update") expect(hashOf(event)).not.toBe(previous);
      else expect(previous).toBeUndefined();
    }
  });

  it("has exactly the distinct snapshot texts the generator expects", () => {
    const figures = expectedFigures(changelog);
    for (const kind of ["job", "member-profile"] as const) {
      const hashes = new Set(changelog.snapshot.filter((event) => event.kind === kind).map(hashOf));
      expect(hashes.size).toBe(figures.snapshot[kind].distinctTexts);
    }
  });
});
