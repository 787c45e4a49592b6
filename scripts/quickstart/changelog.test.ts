import { describe, expect, it } from "vitest";
import { defaultChangelogOptions, expectedFigures, generateChangelog, textKey } from "./changelog.ts";
import { toRecord } from "./records.ts";

describe("generateChangelog", () => {
  const changelog = generateChangelog();
  const figures = expectedFigures(changelog);

  it("is the same on every run (seeded)", () => {
    const again = generateChangelog();
    expect(JSON.stringify(again.replay)).toBe(JSON.stringify(changelog.replay));
    const other = generateChangelog({ ...defaultChangelogOptions, seed: 7 });
    expect(JSON.stringify(other.replay)).not.toBe(JSON.stringify(changelog.replay));
  });

  it("seeds 2,000 entities and replays at least 2,000 events of every kind", () => {
    expect(changelog.snapshot).toHaveLength(2000);
    expect(figures.replay).toEqual({ create: 700, update: 500, noop: 700, delete: 160, total: 2060 });
    expect(figures.final).toEqual({ job: 1200 - 96 + 420, "member-profile": 800 - 64 + 280 });
  });

  it("touches each entity at most once in the replay", () => {
    const keys = changelog.replay.map((event) => `${event.kind}/${event.id}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("keeps the text of no-op updates and changes the text of updates", () => {
    const before = new Map(changelog.snapshot.map((event) => [`${event.kind}/${event.id}`, event.entity!]));
    for (const event of changelog.replay) {
      const previous = before.get(`${event.kind}/${event.id}`);
      if (event.op === "noop") expect(textKey(event.entity!)).toBe(textKey(previous!));
      if (event.op === "noop") expect(event.entity).not.toEqual(previous);
      if (event.op === "update") expect(textKey(event.entity!)).not.toBe(textKey(previous!));
      if (event.op === "create") expect(previous).toBeUndefined();
    }
  });

  it("puts duplicate texts in the snapshot for the bootstrap to deduplicate", () => {
    expect(figures.snapshot.job.distinctTexts).toBeLessThanOrEqual(1200 - 180);
    expect(figures.snapshot["member-profile"].distinctTexts).toBeLessThanOrEqual(800 - 80);
    expect(figures.dedupRatio).toBeGreaterThanOrEqual(0.13);
    expect(figures.noopShare).toBeCloseTo(700 / 2060, 10);
  });

  it("labels every entity synthetic and encodes deletes as op delete", () => {
    expect(changelog.snapshot.every((event) => (event.entity as { synthetic?: boolean }).synthetic)).toBe(
      true,
    );
    const deletion = changelog.replay.find((event) => event.op === "delete" && event.kind === "job")!;
    const record = toRecord(deletion, Date.UTC(2026, 11, 2));
    expect(record).toEqual({
      topic: "quickstart.jobs.changelog",
      key: deletion.id,
      value: JSON.stringify({
        jobId: deletion.id,
        op: "delete",
        updatedAt: "2026-12-02T00:00:00.000Z",
        synthetic: true,
      }),
    });
    const create = changelog.snapshot.find((event) => event.kind === "member-profile")!;
    expect(JSON.parse(toRecord(create, 0).value)).toMatchObject({ memberId: create.id, op: "create" });
  });
});
