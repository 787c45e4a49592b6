/**
 * Deterministic benchmark texts of a target token length: job-posting-like sentences built from a
 * fixed word list with a seeded generator, trimmed with the real tokenizer so each text lands within
 * a few tokens of the target (special tokens included).
 */
import type { Tokenizer } from "../serving/tokenizer/tokenizer.ts";
import { SeededRandom } from "../test/support/seeded-random.ts";

const WORDS = (
  "senior staff principal engineer developer manager analyst scientist designer nurse accountant " +
  "platform data machine learning backend frontend mobile cloud infrastructure security payments " +
  "search logistics retail healthcare finance kubernetes kafka redis postgres python typescript go " +
  "java spark airflow terraform experience years team customers product build ship scale reliable " +
  "systems services pipelines distributed real-time streaming batch latency throughput ownership " +
  "mentor lead collaborate remote hybrid office london berlin toronto singapore benefits salary " +
  "equity bonus growth learning inclusive mission users millions requests daily on-call incident"
).split(" ");

/** mulberry32 numbers in [0, 1) from `seed` (test/support/seeded-random.ts). */
function random(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.next();
}

/**
 * `count` distinct texts of `targetTokens` +/- `spread` tokens (special tokens included), so
 * batches carry realistic, slightly ragged lengths.
 */
export function benchTexts(
  tokenizer: Tokenizer,
  targetTokens: number,
  count: number,
  spread = 2,
  seed = 42,
): string[] {
  const next = random(seed + targetTokens);
  const texts = new Set<string>();
  const length = (text: string) => tokenizer.encode(text, { maxLength: 100_000, truncate: true }).ids.length;
  while (texts.size < count) {
    const goal = targetTokens - spread + Math.floor(next() * (2 * spread + 1));
    const words: string[] = [];
    while (length(words.join(" ")) < goal) words.push(WORDS[Math.floor(next() * WORDS.length)] ?? "team");
    while (length(words.join(" ")) > goal) words.pop();
    const text = words.join(" ");
    if (words.length > 0 && length(text) >= targetTokens - spread) texts.add(text);
  }
  return [...texts];
}
