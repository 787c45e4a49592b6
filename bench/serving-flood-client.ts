/**
 * The flood's load generator, run as its own process (as ghz would be): `calls` unary
 * `tei.v1.Embed/Embed` calls, `concurrency` of them in flight at once over `connections` channels.
 * Requests are encoded once by hand (field 1, `inputs`, a string) so the client spends its CPU on
 * gRPC, not on protobuf. Prints one JSON line: answers by status code and the wall time.
 */
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import { teiEmbedRequest } from "./serving-grpc-load.ts";

const { values } = parseArgs({
  options: {
    address: { type: "string" },
    text: { type: "string" },
    calls: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "2000" },
    connections: { type: "string", default: "4" },
  },
});

async function flood(): Promise<void> {
  const calls = Number(values.calls);
  const concurrency = Number(values.concurrency);
  const request = teiEmbedRequest(values.text ?? "");
  // Distinct channel options keep grpc-js from sharing one subchannel between the clients.
  const clients = Array.from(
    { length: Number(values.connections) },
    (_, index) => new Client(values.address!, credentials.createInsecure(), { "jude.flood.channel": index }),
  );
  const codes: Record<string, number> = {};
  let started = 0;
  const begin = performance.now();
  const worker = async (slot: number): Promise<void> => {
    const client = clients[slot % clients.length]!;
    while (started < calls) {
      started++;
      const code = await new Promise<number>((resolve) =>
        client.makeUnaryRequest(
          "/tei.v1.Embed/Embed",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          request,
          (error: ServiceError | null) => resolve(error ? error.code : 0),
        ),
      );
      codes[code] = (codes[code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, slot) => worker(slot)));
  const wallMs = performance.now() - begin;
  for (const client of clients) client.close();
  console.log(JSON.stringify({ calls, concurrency, codes, wall_ms: Math.round(wallMs) }));
}

await flood();
