/** Options of a WordPiece model as found in tokenizer.json. */
export interface WordPieceOptions {
  vocab: ReadonlyMap<string, number>;
  unkId: number;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
  /** Distinct words remembered; real text repeats words so much that the cache answers most lookups. */
  cacheSize?: number;
}

const surrogate = /[\ud800-\udfff]/;

/**
 * Greedy longest-match-first WordPiece, as in BERT and the Rust `tokenizers` crate: a word that cannot
 * be covered completely by vocabulary pieces becomes a single unknown token.
 */
export class WordPiece {
  readonly #options: WordPieceOptions;
  readonly #cache = new Map<string, number | readonly number[]>();
  readonly #cacheSize: number;

  constructor(options: WordPieceOptions) {
    this.#options = options;
    this.#cacheSize = options.cacheSize ?? 100_000;
  }

  /** Appends the ids of one pre-tokenized word to `out` and returns how many were appended. */
  encodeWord(word: string, out: number[]): number {
    const cached = this.#cache.get(word);
    if (cached !== undefined) {
      if (typeof cached === "number") {
        out.push(cached);
        return 1;
      }
      for (const id of cached) out.push(id);
      return cached.length;
    }
    const ids = this.#split(word);
    // Clearing wholesale keeps the bound without LRU bookkeeping on the hot path.
    if (this.#cache.size >= this.#cacheSize) this.#cache.clear();
    this.#cache.set(word, ids.length === 1 ? (ids[0] ?? this.#options.unkId) : ids);
    for (const id of ids) out.push(id);
    return ids.length;
  }

  #split(word: string): number[] {
    const { vocab, unkId, continuingSubwordPrefix, maxInputCharsPerWord } = this.#options;
    // Character boundaries in UTF-16 offsets; the common case (no astral characters) needs no table.
    const boundaries = surrogate.test(word) ? codePointOffsets(word) : undefined;
    const charCount = boundaries ? boundaries.length - 1 : word.length;
    if (charCount > maxInputCharsPerWord) return [unkId];
    const offset = (charIndex: number): number =>
      boundaries ? (boundaries[charIndex] ?? word.length) : charIndex;
    const ids: number[] = [];
    let start = 0;
    while (start < charCount) {
      let end = charCount;
      let found: number | undefined;
      while (start < end) {
        const piece = word.slice(offset(start), offset(end));
        found = vocab.get(start > 0 ? continuingSubwordPrefix + piece : piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }
}

function codePointOffsets(word: string): number[] {
  const offsets: number[] = [];
  let index = 0;
  for (const char of word) {
    offsets.push(index);
    index += char.length;
  }
  offsets.push(index);
  return offsets;
}
