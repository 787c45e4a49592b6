/** The human-readable table of the serving benchmark (the JSON object carries the same figures). */
export function formatServingTable(figures: Record<string, unknown>): string {
  const cases = figures.cases as Record<string, Record<string, Record<string, number> | number>>;
  const cell = (measurement: unknown) => {
    const m = measurement as Record<string, number>;
    return `${String(m.sentences_per_s).padStart(8)}/s ${String(m.p50_ms).padStart(7)} ${String(m.p95_ms).padStart(7)}`;
  };
  const header = `${"case".padEnd(11)} ${"(a) in-process".padEnd(28)} ${"(b) server x64".padEnd(28)} ${"(c) no batching".padEnd(28)} ${"(d) 32/call".padEnd(28)} b/a    b/c`;
  const rows = Object.entries(cases).map(
    ([name, c]) =>
      `${name.padEnd(11)} ${cell(c.inprocess)} ${cell(c.server)} ${cell(c.server_unbatched)} ${cell(c.server_batched_calls)} ${String(c.server_vs_inprocess).padEnd(6)} ${c.batching_gain}`,
  );
  const machine = figures.machine as Record<string, unknown>;
  return [
    `serving bench on ${machine.cpu} (${machine.cores} cores; ${(machine.flags as string[]).join(" ")}), ${figures.execution_provider}, ${figures.intra_op_threads} intra-op threads, load ${machine.load_average_1m} -> ${figures.load_average_1m_after}`,
    "columns: sentences/s, p50 ms, p95 ms (per call; per batch for in-process)",
    header,
    ...rows,
  ].join("\n");
}
