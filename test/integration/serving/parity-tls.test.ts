/**
 * The operator's parity check reaches a candidate that serves TLS with a certificate from a private CA
 * (the Secret's ca.crt, as cert-manager issues it), as the pipeline workers do: against a real server.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parityClient } from "../../../controllers/embedding-model/parity-check.ts";
import type { RecordedSpec } from "../../../controllers/embedding-model/version-record.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { selfSignedCertificate, startServer } from "./helpers.ts";

const TOKEN = "parity-tls-token";
let server: EmbeddingServer;
let ca: Buffer;

beforeAll(async () => {
  const directory = await mkdtemp(join(tmpdir(), "jude-parity-tls-"));
  const { cert, key } = await selfSignedCertificate(directory);
  ca = await readFile(cert);
  const tokenFile = join(directory, "token");
  await writeFile(tokenFile, TOKEN);
  server = await startServer({ tls: { certFile: cert, keyFile: key }, auth: { tokenFile } });
});
afterAll(() => server.close());

const tlsSpec = { serving: { tls: { secretName: "minilm-tls" } } } as unknown as RecordedSpec;

it("trusts the ca.crt of the candidate's TLS Secret", async () => {
  const client = parityClient({
    endpoint: `127.0.0.1:${server.grpcPort}`,
    spec: tlsSpec,
    token: TOKEN,
    servingCa: ca,
  });
  try {
    const answer = await client.embed(["Machine learning engineer, NLP"]);
    expect(answer.vectors[0]).toHaveLength(384);
  } finally {
    client.close();
  }
});
