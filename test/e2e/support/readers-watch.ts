// Watches what readers follow during a chaotic promotion: the store pointer and the model's query
// Service must only ever name a version whose BootstrapRun succeeded (or the first version, built
// before the watch began), and status.observedGeneration never runs ahead of the generation.
import { setTimeout as sleep } from "node:timers/promises";
import { readPointer, type Store } from "../../../store/index.ts";
import { getObject, type Json } from "../../integration/operator/operator-harness.ts";

/** A running watch: `stop()` ends it and resolves what it saw and every violation. */
export function watchReaders(
  namespace: string,
  store: Store,
  builtBefore: string,
): { stop: () => Promise<{ seen: string[]; violations: string[] }> } {
  const seen: string[] = [];
  const violations: string[] = [];
  let watching = true;
  const loop = (async () => {
    while (watching) {
      try {
        const current = (await readPointer(store)).current;
        const service = await getObject("service/minilm", namespace);
        const selector = (service?.spec as Json | undefined)?.selector as Json | undefined;
        const selected = selector?.["jude.dev/version"];
        for (const [who, version] of [
          ["pointer", current],
          ["service", selected],
        ] as const) {
          if (typeof version !== "string" || version === builtBefore) continue;
          const run = await getObject(`bootstraprun/jobs-${version}-promotion`, namespace);
          const phase = (run?.status as Json | undefined)?.phase;
          if (phase !== "Succeeded") violations.push(`${who} on ${version} with its run ${String(phase)}`);
        }
        const model = await getObject("embeddingmodel/minilm", namespace);
        const observed = (model?.status as Json | undefined)?.observedGeneration as number | undefined;
        const generation = (model?.metadata as Json | undefined)?.generation as number | undefined;
        if (observed !== undefined && generation !== undefined && observed > generation)
          violations.push(`observedGeneration ${observed} ahead of generation ${generation}`);
        const line = `${String(current)}/${String(selected)}`;
        if (seen.at(-1) !== line) seen.push(line);
      } catch (error) {
        violations.push(`watch failed: ${String(error)}`);
      }
      await sleep(250);
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return { seen, violations };
    },
  };
}
