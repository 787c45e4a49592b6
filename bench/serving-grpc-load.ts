/**
 * The external benchmark's gRPC load generator, run as its own process (as ghz would be): a closed
 * loop of `concurrency` callers over `connections` channels, each sending its next call as soon as
 * the last is answered, for a warm-up and then a measured window. Single-text calls use TEI's
 * `tei.v1.Embed/Embed`; calls of several texts use `jude.embedding.v1.EmbeddingService/Embed`.
 * Requests are encoded by hand once, up front (protobuf wire format), so the client spends its CPU
 * on gRPC, not on protobuf. Prints one JSON line: calls and texts answered in the window, p50/p95 in
 * ms, and answers by status code; before it, a line as the window opens and one as it closes.
 *
 * `node bench/serving-grpc-load.ts --address=H:P --texts-file=F --texts-per-call=N --concurrency=N
 * --connections=N --warmup-ms=N --duration-ms=N` (F: a JSON list of strings).
 */
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { percentile } from "./stats.ts";

/** A length-delimited protobuf field (wire type 2). */
export function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  const length: number[] = [];
  let remaining = bytes.length;
  do {
    length.push((remaining & 0x7f) | (remaining > 0x7f ? 0x80 : 0));
    remaining >>>= 7;
  } while (remaining > 0);
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...length]), bytes]);
}

/** tei.v1.EmbedRequest { inputs: text, truncate: true }. */
export function teiEmbedRequest(text: string): Buffer {
  return Buffer.concat([lengthDelimited(1, Buffer.from(text, "utf8")), Buffer.from([0x10, 0x01])]);
}

/** jude.embedding.v1.EmbedRequest { inputs: [{ text }...], truncate: true }. */
export function judeEmbedRequest(texts: readonly string[]): Buffer {
  const inputs = texts.map((text) => lengthDelimited(1, lengthDelimited(1, Buffer.from(text, "utf8"))));
  return Buffer.concat([...inputs, Buffer.from([0x10, 0x01])]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      address: { type: "string" },
      "texts-file": { type: "string" },
      "texts-per-call": { type: "string", default: "1" },
      concurrency: { type: "string", default: "64" },
      connections: { type: "string", default: "4" },
      "warmup-ms": { type: "string", default: "1000" },
      "duration-ms": { type: "string", default: "5000" },
    },
  });
  const texts = JSON.parse(readFileSync(values["texts-file"]!, "utf8")) as string[];
  const perCall = Number(values["texts-per-call"]);
  const method = perCall === 1 ? "/tei.v1.Embed/Embed" : "/jude.embedding.v1.EmbeddingService/Embed";
  const requests = Array.from({ length: texts.length }, (_, index) =>
    perCall === 1
      ? teiEmbedRequest(texts[index]!)
      : judeEmbedRequest(Array.from({ length: perCall }, (_, k) => texts[(index + k) % texts.length]!)),
  );
  // Distinct channel options keep grpc-js from sharing one subchannel between the clients.
  const clients = Array.from(
    { length: Number(values.connections) },
    (_, index) => new Client(values.address!, credentials.createInsecure(), { "jude.load.channel": index }),
  );
  const begins = performance.now() + Number(values["warmup-ms"]);
  const ends = begins + Number(values["duration-ms"]);
  // Tell the parent when the window opens and closes (it samples the server's CPU time then).
  setTimeout(
    () => console.log(JSON.stringify({ phase: "measuring" })),
    Math.max(0, begins - performance.now()),
  );
  setTimeout(() => console.log(JSON.stringify({ phase: "closed" })), Math.max(0, ends - performance.now()));
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let cursor = 0;
  const caller = async (slot: number): Promise<void> => {
    const client = clients[slot % clients.length]!;
    while (performance.now() < ends) {
      const request = requests[cursor++ % requests.length]!;
      const started = performance.now();
      const code = await new Promise<number>((resolve) =>
        client.makeUnaryRequest(
          method,
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          request,
          (error: ServiceError | null) => resolve(error ? error.code : 0),
        ),
      );
      const finished = performance.now();
      if (finished < begins || finished > ends) continue;
      codes[code] = (codes[code] ?? 0) + 1;
      if (code === 0) latencies.push(finished - started);
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, (_, slot) => caller(slot)));
  for (const client of clients) client.close();
  const seconds = Number(values["duration-ms"]) / 1000;
  console.log(
    JSON.stringify({
      calls_per_s: latencies.length / seconds,
      sentences_per_s: (latencies.length * perCall) / seconds,
      p50_ms: percentile(latencies, 0.5),
      p95_ms: percentile(latencies, 0.95),
      codes,
    }),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
