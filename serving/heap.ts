import { setFlagsFromString } from "node:v8";

/**
 * Keeps V8's heap close to what is live. Under a flood of calls (thousands in flight, most refused
 * at once) every call's objects survive a few young-generation collections while it waits, are
 * promoted, and V8's default heap-growing policy then lets the old generation grow to several times
 * the live set before a full collection: measured (bench/serving-flood.ts, 2,000 concurrent tei.v1
 * calls, 64 permits) heap 63 -> 190-240 MB allocated while 30-100 MB was used. `--optimize-for-size`
 * makes V8 grow the heap in small steps and collect sooner (same flood: 29 -> 36 MB). It is a V8
 * flag Node does not accept in NODE_OPTIONS, hence set here, before the server allocates anything.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString("--optimize-for-size");
}
