// "did you mean …?" for a model name that names no object, as kubectl-like tools (cobra's command
// suggestions) say it: the names a few edits away (Levenshtein distance), or that start with what was
// typed, closest first. Nothing when none is close: a list of unrelated names would mislead. Pure.

/** The most names suggested. */
const most = 3;

/** The names of `names` close to `typed`, closest first (then alphabetical), at most three. */
export function closestNames(typed: string, names: readonly string[]): string[] {
  // One edit in a short name, up to three in a long one: "ab" is not a typo of "cd".
  const allowed = Math.max(1, Math.min(3, Math.floor(typed.length / 3)));
  return [...new Set(names)]
    .filter((name) => name !== typed)
    .map((name) => ({ name, distance: editDistance(typed, name) }))
    .filter(({ name, distance }) => distance <= allowed || (typed.length >= 3 && name.startsWith(typed)))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, most)
    .map(({ name }) => name);
}

/** "; did you mean a, b or c?" for the names close to `typed`, or "" when none is. */
export function didYouMean(typed: string, names: readonly string[]): string {
  const close = closestNames(typed, names);
  if (close.length === 0) return "";
  const listed = close.length === 1 ? close[0]! : `${close.slice(0, -1).join(", ")} or ${close.at(-1)!}`;
  return `; did you mean ${listed}?`;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1)
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length]!;
}
