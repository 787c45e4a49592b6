/**
 * The bootstrap benchmark's snapshot: job postings whose rendered text is ~17 tokens, each distinct
 * text repeated entities/distinct times in a fixed pseudo-random order (so the runs are comparable and
 * duplicates are spread over the whole run, as in real data, not bunched together).
 */

import { createEntityTextRenderer } from "../pipelines/shared/entity-text.ts";
import { SeededRandom } from "../test/support/seeded-random.ts";

/** The prompt template of the benchmark's model version. */
export const BENCH_TEMPLATE = "Job: {{title}} at {{company}} in {{city}}";
/** The fields extracted from each row. */
export const BENCH_EXTRACT = { title: "$.title", company: "$.company", city: "$.city" };
const render = createEntityTextRenderer({
  extract: BENCH_EXTRACT,
  template: BENCH_TEMPLATE,
  modelVersion: "bench",
});
const LEVELS = ["Junior", "Senior", "Staff", "Principal", "Lead", "Associate", "Head of", "Chief"];
const ROLES = [
  "backend engineer",
  "data scientist",
  "product designer",
  "nurse",
  "accountant",
  "sales manager",
];
const AREAS = [
  "payments",
  "search",
  "logistics",
  "oncology",
  "retail",
  "cloud infrastructure",
  "mobile apps",
];
const COMPANIES = ["Northwind Traders", "Contoso", "Fabrikam", "Umbrella Health", "Initech"];
const CITIES = ["Berlin", "Dublin", "Toronto", "Austin", "Singapore", "Lyon"];

/** Snapshot rows: entity i gets text t(i); every text appears entities/distinct times, shuffled. */
export function snapshotLines(entities: number, distinct: number): string[] {
  const textOf = Array.from({ length: entities }, (_, index) => index % distinct);
  const random = mulberry32(42);
  for (let index = textOf.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [textOf[index], textOf[other]] = [textOf[other]!, textOf[index]!];
  }
  return textOf.map((text, id) => JSON.stringify({ id: `job-${id}`, ...fieldsOf(text) }));
}

function fieldsOf(text: number): { title: string; company: string; city: string } {
  const pick = <T>(list: readonly T[], salt: number): T => list[(text * salt + salt) % list.length]!;
  return {
    title: `${pick(LEVELS, 7)} ${pick(ROLES, 11)} for ${pick(AREAS, 13)} team ${text}`,
    company: pick(COMPANIES, 17),
    city: pick(CITIES, 19),
  };
}

/** The prompt text a shard renders for text number `text` (the ceiling is measured on these). */
export function renderText(text: number): string {
  return render(fieldsOf(text)).text;
}

/** mulberry32 numbers in [0, 1) from `seed` (test/support/seeded-random.ts). */
function mulberry32(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.next();
}
