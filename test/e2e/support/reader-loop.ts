// A reader that loops over a fixed set of keys through the store's pointer for the whole of a test,
// as a search service would: every miss, error, or vector whose model digest is not the one of the
// version it reports is an anomaly. Each round is kept with its start and end time, so a test can ask
// what readers saw after a given moment (e.g. after the operator switched the pointer).
import type { StoreReader } from "../../../store/index.ts";

/** One pass over the keys. */
export interface ReaderRound {
  startMs: number;
  endMs: number;
  versions: string[];
}

export interface ReaderLoop {
  readonly anomalies: string[];
  readonly rounds: ReaderRound[];
  /** Versions seen in any round. */
  versionsSeen(): Set<string>;
  stop(): Promise<void>;
}

/** Starts the loop; `digests` maps a version to the model digest its vectors must carry. */
export function startReaderLoop(
  reader: StoreReader,
  entity: string,
  ids: readonly string[],
  digests: ReadonlyMap<string, string>,
): ReaderLoop {
  const anomalies: string[] = [];
  const rounds: ReaderRound[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const startMs = Date.now();
      const versions = new Set<string>();
      try {
        const hits = await reader.getMany(entity, ids);
        hits.forEach((hit, index) => {
          if (hit === null) anomalies.push(`missing ${ids[index]}`);
          else if (hit.modelDigest !== digests.get(hit.version))
            anomalies.push(`${ids[index]}: digest ${hit.modelDigest} under ${hit.version}`);
          else versions.add(hit.version);
        });
      } catch (error) {
        anomalies.push(`error ${(error as Error).message}`);
      }
      rounds.push({ startMs, endMs: Date.now(), versions: [...versions] });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    anomalies,
    rounds,
    versionsSeen: () => new Set(rounds.flatMap((round) => round.versions)),
    stop: async () => {
      running = false;
      await done;
    },
  };
}
