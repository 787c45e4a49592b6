/** Splitting a list into consecutive pieces of bounded size (embedding calls, Redis pipelines). */

/** Consecutive slices of at most `size` items, in order; none for an empty list. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  return chunkWithin(items, size, Number.POSITIVE_INFINITY, () => 0);
}

/**
 * Consecutive slices of at most `size` items whose `weight`s add up to at most `maxWeight`, in
 * order; an item heavier than `maxWeight` on its own gets a slice of its own. None for an empty list.
 */
export function chunkWithin<T>(
  items: readonly T[],
  size: number,
  maxWeight: number,
  weight: (item: T) => number,
): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  if (!(maxWeight > 0)) throw new RangeError(`chunk weight limit must be positive, got ${maxWeight}`);
  const pieces: T[][] = [];
  let piece: T[] = [];
  let pieceWeight = 0;
  for (const item of items) {
    const itemWeight = weight(item);
    if (piece.length > 0 && (piece.length === size || pieceWeight + itemWeight > maxWeight)) {
      pieces.push(piece);
      piece = [];
      pieceWeight = 0;
    }
    piece.push(item);
    pieceWeight += itemWeight;
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}
