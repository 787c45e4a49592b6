/** Splitting a list into consecutive pieces of bounded size (embedding calls, Redis pipelines). */

/** Consecutive slices of at most `size` items, in order; none for an empty list. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const pieces: T[][] = [];
  for (let start = 0; start < items.length; start += size) pieces.push(items.slice(start, start + size));
  return pieces;
}
