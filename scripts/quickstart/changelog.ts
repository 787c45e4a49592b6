// The quickstart's sample changelog, generated deterministically from a seed and labelled synthetic:
// a snapshot of job postings and member profiles (some postings are reposts with identical text, some
// profiles identical, so the bootstrap has duplicates to skip), then a replay stream of creates,
// updates, no-op updates (only a field outside the prompt changes) and deletes. Each entity gets at
// most one replay event, so the expected figures follow from the counts alone.
import { SeededRandom } from "../../test/support/seeded-random.ts";
import {
  cities,
  companies,
  descriptionPhrases,
  industries,
  jobTitles,
  seniorities,
  skills,
  summaryPhrases,
} from "./vocabulary.ts";

export type EntityKind = "job" | "member-profile";
export type ChangeOp = "create" | "update" | "noop" | "delete";

export interface JobPosting {
  jobId: string;
  title: string;
  company: { name: string };
  location: { city: string };
  seniority: string;
  skills: Array<{ name: string }>;
  description: string;
  /** Outside the prompt: changing it is a no-op update. */
  views: number;
  synthetic: true;
}

export interface MemberProfile {
  memberId: string;
  headline: string;
  currentTitle: string;
  industry: string;
  skills: string[];
  summary: string;
  /** Outside the prompt: changing it is a no-op update. */
  connections: number;
  synthetic: true;
}

export type Entity = JobPosting | MemberProfile;

/** One changelog event before it gets its event time (set when it is produced). */
export interface ChangeEvent {
  kind: EntityKind;
  id: string;
  op: ChangeOp;
  /** The entity after the change; undefined for deletes. */
  entity?: Entity;
}

export interface ChangelogOptions {
  seed: number;
  jobs: number;
  members: number;
  /** Share of snapshot postings that repost another posting's exact text. */
  repostShare: number;
  /** Share of snapshot profiles identical to another profile's text. */
  duplicateProfileShare: number;
  /** Replay events, as shares of the snapshot entities (each touched at most once)… */
  updateShare: number;
  noopShare: number;
  deleteShare: number;
  /** …and new entities, as a share of the snapshot. */
  createShare: number;
}

export const defaultChangelogOptions: ChangelogOptions = {
  seed: 20261202,
  jobs: 1200,
  members: 800,
  repostShare: 0.15,
  duplicateProfileShare: 0.1,
  updateShare: 0.25,
  noopShare: 0.35,
  deleteShare: 0.08,
  createShare: 0.35,
};

export interface GeneratedChangelog {
  /** Creates written before the bootstrap (what the BootstrapRun back-fills). */
  snapshot: ChangeEvent[];
  /** The stream replayed afterwards, through the nearline pipelines. */
  replay: ChangeEvent[];
  /** Entities alive after the replay, by kind and id. */
  final: Record<EntityKind, Map<string, Entity>>;
}

/** The fields each prompt template renders, joined: equal keys mean equal embedded text. */
export function textKey(entity: Entity): string {
  if ("jobId" in entity)
    return [
      entity.title,
      entity.company.name,
      entity.location.city,
      entity.seniority,
      entity.skills.map((skill) => skill.name).join(", "),
      entity.description,
    ].join("\u0000");
  return [
    entity.headline,
    entity.currentTitle,
    entity.industry,
    entity.skills.join(", "),
    entity.summary,
  ].join("\u0000");
}

function newJob(random: SeededRandom, id: string): JobPosting {
  return {
    jobId: id,
    title: random.pick(jobTitles),
    company: { name: random.pick(companies) },
    location: { city: random.pick(cities) },
    seniority: random.pick(seniorities),
    skills: random.sample(skills, 3 + random.int(3)).map((name) => ({ name })),
    description: random.sample(descriptionPhrases, 2).join(" "),
    views: random.int(1000),
    synthetic: true,
  };
}

function newMember(random: SeededRandom, id: string): MemberProfile {
  const title = random.pick(jobTitles);
  return {
    memberId: id,
    headline: `${random.pick(seniorities)} ${title} (synthetic profile)`,
    currentTitle: title,
    industry: random.pick(industries),
    skills: random.sample(skills, 3 + random.int(4)),
    summary: random.sample(summaryPhrases, 2).join(" "),
    connections: random.int(500),
    synthetic: true,
  };
}

/** Same id, different text: another description (postings) or another summary (profiles). */
function changed(random: SeededRandom, entity: Entity): Entity {
  const original = textKey(entity);
  for (;;) {
    const next: Entity =
      "jobId" in entity
        ? { ...entity, description: random.sample(descriptionPhrases, 2).join(" ") }
        : { ...entity, summary: random.sample(summaryPhrases, 2).join(" ") };
    if (textKey(next) !== original) return next;
  }
}

/** Same text, a field outside the prompt moved. */
function touched(entity: Entity): Entity {
  return "jobId" in entity
    ? { ...entity, views: entity.views + 1 }
    : { ...entity, connections: entity.connections + 1 };
}

function snapshotOf(
  random: SeededRandom,
  kind: EntityKind,
  count: number,
  duplicateShare: number,
  offset: number,
): Entity[] {
  const entities: Entity[] = [];
  const duplicates = Math.round(count * duplicateShare);
  for (let index = 0; index < count; index++) {
    const id =
      kind === "job"
        ? `job-${String(offset + index).padStart(5, "0")}`
        : `member-${String(offset + index).padStart(5, "0")}`;
    const fresh = kind === "job" ? newJob(random, id) : newMember(random, id);
    // The last `duplicates` entities copy the text of an earlier, original one.
    if (index >= count - duplicates) {
      const original = entities[random.int(count - duplicates)]!;
      entities.push(
        "jobId" in original
          ? { ...(original as JobPosting), jobId: id, views: (fresh as JobPosting).views }
          : {
              ...(original as MemberProfile),
              memberId: id,
              connections: (fresh as MemberProfile).connections,
            },
      );
    } else entities.push(fresh);
  }
  return random.shuffle(entities);
}

const idOf = (entity: Entity): string => ("jobId" in entity ? entity.jobId : entity.memberId);

/** Generates the snapshot and the replay stream. */
export function generateChangelog(options: ChangelogOptions = defaultChangelogOptions): GeneratedChangelog {
  const random = new SeededRandom(options.seed);
  const kinds: Array<[EntityKind, number, number]> = [
    ["job", options.jobs, options.repostShare],
    ["member-profile", options.members, options.duplicateProfileShare],
  ];
  const final: GeneratedChangelog["final"] = { job: new Map(), "member-profile": new Map() };
  const snapshot: ChangeEvent[] = [];
  const replay: ChangeEvent[] = [];
  for (const [kind, count, duplicateShare] of kinds) {
    const entities = snapshotOf(random, kind, count, duplicateShare, 0);
    for (const entity of entities) {
      snapshot.push({ kind, id: idOf(entity), op: "create", entity });
      final[kind].set(idOf(entity), entity);
    }
    const order = random.shuffle([...entities]);
    const updates = Math.round(count * options.updateShare);
    const noops = Math.round(count * options.noopShare);
    const deletes = Math.round(count * options.deleteShare);
    order.forEach((entity, index) => {
      const id = idOf(entity);
      if (index < updates) {
        const next = changed(random, entity);
        replay.push({ kind, id, op: "update", entity: next });
        final[kind].set(id, next);
      } else if (index < updates + noops) replay.push({ kind, id, op: "noop", entity: touched(entity) });
      else if (index < updates + noops + deletes) {
        replay.push({ kind, id, op: "delete" });
        final[kind].delete(id);
      }
    });
    const creates = Math.round(count * options.createShare);
    for (let index = 0; index < creates; index++) {
      const id =
        kind === "job"
          ? `job-${String(count + index).padStart(5, "0")}`
          : `member-${String(count + index).padStart(5, "0")}`;
      const entity = kind === "job" ? newJob(random, id) : newMember(random, id);
      replay.push({ kind, id, op: "create", entity });
      final[kind].set(id, entity);
    }
  }
  random.shuffle(replay);
  return { snapshot, replay, final };
}

/** What the generated data implies for the figures the quickstart reports. */
export interface ExpectedFigures {
  snapshot: Record<EntityKind, { entities: number; distinctTexts: number }>;
  replay: Record<ChangeOp, number> & { total: number };
  /** No-op updates over all replayed events: what change detection should skip. */
  noopShare: number;
  /** Snapshot records that reuse another record's vector, over snapshot records. */
  dedupRatio: number;
  final: Record<EntityKind, number>;
}

/** The figures implied by a generated changelog. */
export function expectedFigures(changelog: GeneratedChangelog): ExpectedFigures {
  const snapshot = {} as ExpectedFigures["snapshot"];
  for (const kind of ["job", "member-profile"] as const) {
    const entities = changelog.snapshot.filter((event) => event.kind === kind);
    snapshot[kind] = {
      entities: entities.length,
      distinctTexts: new Set(entities.map((event) => textKey(event.entity!))).size,
    };
  }
  const replay = { create: 0, update: 0, noop: 0, delete: 0, total: changelog.replay.length };
  for (const event of changelog.replay) replay[event.op]++;
  const records = snapshot.job.entities + snapshot["member-profile"].entities;
  const distinct = snapshot.job.distinctTexts + snapshot["member-profile"].distinctTexts;
  return {
    snapshot,
    replay,
    noopShare: replay.noop / replay.total,
    dedupRatio: (records - distinct) / records,
    final: { job: changelog.final.job.size, "member-profile": changelog.final["member-profile"].size },
  };
}
