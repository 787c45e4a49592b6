/**
 * A synthetic job-posting changelog for the pipeline benchmarks: every key is created once, then
 * updated; a configurable share of all events are no-op updates (only fields outside the prompt
 * change, or whitespace), the rest change the embedded text. Deterministic for a given seed.
 */
import { SeededRandom } from "../test/support/seeded-random.ts";

export interface ChangelogOptions {
  events: number;
  keys: number;
  /** Share of all events that are no-op updates (default 2/3). */
  noopShare: number;
  seed?: number;
}

export interface ChangelogEvent {
  key: string;
  value: {
    jobId: string;
    title: string;
    company: string;
    location: string;
    skills: string[];
    updatedAt: number;
    views: number;
  };
  /** True when the event does not change the embedded text. */
  noop: boolean;
}

const titles = [
  "Software Engineer",
  "Data Scientist",
  "Registered Nurse",
  "Product Manager",
  "Account Executive",
  "UX Designer",
  "Site Reliability Engineer",
  "Financial Analyst",
  "Warehouse Associate",
  "Machine Learning Engineer",
];
const companies = [
  "Acme",
  "Globex",
  "Initech",
  "Umbrella Health",
  "Hooli",
  "Stark Industries",
  "Wayne Logistics",
  "Pied Piper",
];
const locations = [
  "San Francisco",
  "New York",
  "Remote",
  "London",
  "Berlin",
  "Bangalore",
  "Toronto",
  "Sydney",
];
const skills = [
  "Python",
  "Kubernetes",
  "SQL",
  "TypeScript",
  "Go",
  "Spark",
  "Kafka",
  "React",
  "AWS",
  "Excel",
  "ICU",
  "Salesforce",
];

/** mulberry32 numbers in [0, 1) from `seed` (test/support/seeded-random.ts). */
function random(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.next();
}

/** The fields that make up the prompt (title, company, location, skills). */
export const changelogExtract = {
  title: "$.title",
  company: "$.company",
  location: "$.location",
  skills: "$.skills[*]",
};
export const changelogTemplate = "Job: {{title}} at {{company}} in {{location}}. Skills: {{skills}}";

/** Generates the changelog; exactly round(events × noopShare) events are no-ops. */
export function generateChangelog(options: ChangelogOptions): ChangelogEvent[] {
  const rand = random(options.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const noops = Math.round(options.events * options.noopShare);
  const realUpdates = options.events - options.keys - noops;
  if (realUpdates < 0)
    throw new Error(`${options.events} events cannot hold ${options.keys} creates and ${noops} no-ops`);
  // Decide the kind of every non-create event, then assign keys so each key's create comes first.
  const kinds: boolean[] = [...Array<boolean>(noops).fill(true), ...Array<boolean>(realUpdates).fill(false)];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const state = new Map<number, ChangelogEvent["value"]>();
  const events: ChangelogEvent[] = [];
  let created = 0;
  let time = 1_764_000_000_000;
  for (let index = 0; index < options.events; index++) {
    time += 1;
    // Creates are spread through the stream; updates go to keys that already exist.
    const remainingCreates = options.keys - created;
    const mustCreate = created === 0 || rand() < remainingCreates / (options.events - index);
    if (mustCreate && remainingCreates > 0) {
      const id = created++;
      const value = {
        jobId: `job-${id}`,
        title: `${pick(titles)} ${id % 7 === 0 ? "II" : ""}`.trim(),
        company: pick(companies),
        location: pick(locations),
        skills: [pick(skills), pick(skills)],
        updatedAt: time,
        views: 0,
      };
      state.set(id, value);
      events.push({ key: value.jobId, value: { ...value }, noop: false });
      continue;
    }
    const id = Math.floor(rand() * created);
    const current = state.get(id)!;
    const noop = kinds.pop() ?? true;
    const next = noop
      ? {
          ...current,
          updatedAt: time,
          views: current.views + 1,
          title: rand() < 0.5 ? `${current.title} ` : current.title,
        }
      : { ...current, updatedAt: time, title: `${pick(titles)} (rev ${index})` };
    state.set(id, { ...next, title: next.title.trim() });
    events.push({ key: next.jobId, value: next, noop });
  }
  return events;
}
