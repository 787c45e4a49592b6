// Ranking for the quickstart's summary: the top jobs for a member by cosine similarity. `topByCosine`
// keeps only the best k while it scans (what a ranking service would do); `bruteForceTopK` scores and
// sorts everything, as the independent check. Ties are broken by id so both orders are total.

export interface Scored {
  id: string;
  score: number;
}

/** Cosine similarity; 0 when either vector is all zeros. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`vector lengths differ: ${a.length} vs ${b.length}`);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index]!;
    const y = b[index]!;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

const better = (a: Scored, b: Scored): boolean => a.score > b.score || (a.score === b.score && a.id < b.id);

/** The k best candidates, best first, keeping a sorted list of at most k while scanning. */
export function topByCosine(
  query: Float32Array,
  candidates: Iterable<{ id: string; vector: Float32Array }>,
  k: number,
): Scored[] {
  const best: Scored[] = [];
  for (const candidate of candidates) {
    const scored = { id: candidate.id, score: cosine(query, candidate.vector) };
    if (best.length === k && !better(scored, best[k - 1]!)) continue;
    let position = best.length;
    while (position > 0 && better(scored, best[position - 1]!)) position--;
    best.splice(position, 0, scored);
    if (best.length > k) best.pop();
  }
  return best;
}

/** The k best candidates by scoring and sorting all of them. */
export function bruteForceTopK(
  query: Float32Array,
  candidates: Array<{ id: string; vector: Float32Array }>,
  k: number,
): Scored[] {
  return candidates
    .map((candidate) => ({ id: candidate.id, score: cosine(query, candidate.vector) }))
    .sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0))
    .slice(0, k);
}
