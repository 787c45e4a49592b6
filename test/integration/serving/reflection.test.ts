/**
 * gRPC server reflection, as text-embeddings-inference serves it: a generic client that knows only
 * the address (TEI's README: `grpcurl -d '{"inputs": "..."}' -plaintext host:port tei.v1.Embed/Embed`)
 * lists the services, fetches their descriptors, and calls them with nothing but those.
 */
import { credentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import {
  decodeFileDescriptor,
  packageFromFiles,
  ReflectionClient,
  type MessageDescriptor,
} from "./clients/reflection-client.ts";
import { BATCHING_TOLERANCE, maxAbsDifference, readReference, startServer } from "./helpers.ts";

const SERVICES = [
  "jude.embedding.v1.EmbeddingService",
  "tei.v1.Embed",
  "tei.v1.Info",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
];

let server: EmbeddingServer;
let address: string;
let text: string;

beforeAll(async () => {
  server = await startServer();
  address = `127.0.0.1:${server.grpcPort}`;
  text = (await readReference()).items[0]!.text;
});
afterAll(() => server?.close());

/** Calls tei.v1.Embed/Embed through a client built from reflected descriptors only. */
async function embedThroughReflection(version: "v1" | "v1alpha"): Promise<number[]> {
  const reflection = new ReflectionClient(address, { version });
  const files = await reflection.fileContainingSymbol("tei.v1.Embed").finally(() => reflection.close());
  const tei = (
    packageFromFiles(files) as unknown as { tei: { v1: Record<string, new (...args: unknown[]) => Client> } }
  ).tei.v1;
  const client = new tei.Embed!(address, credentials.createInsecure()) as Client &
    Record<string, (request: unknown, done: (error: ServiceError | null, response: unknown) => void) => void>;
  try {
    const response = await new Promise<{ embeddings: number[] }>((resolve, reject) =>
      client.Embed!({ inputs: text, truncation_direction: "TRUNCATION_DIRECTION_RIGHT" }, (error, answer) =>
        error ? reject(error) : resolve(answer as { embeddings: number[] }),
      ),
    );
    return response.embeddings;
  } finally {
    client.close();
  }
}

describe("grpc.reflection", () => {
  it("lists every service the server answers, as `grpcurl list` prints them", async () => {
    const reflection = new ReflectionClient(address);
    try {
      expect((await reflection.listServices()).sort()).toEqual([...SERVICES].sort());
    } finally {
      reflection.close();
    }
  });

  it.each(["v1", "v1alpha"] as const)(
    "%s: a client built from reflected descriptors alone embeds as jude Embed does",
    async (version) => {
      const client = new EmbeddingClient({ address });
      const [expected] = (await client.embed([text])).vectors;
      client.close();
      const vector = await embedThroughReflection(version);
      expect(vector).toHaveLength(384);
      expect(maxAbsDifference(vector, expected!)).toBeLessThanOrEqual(BATCHING_TOLERANCE.fp32);
    },
  );

  it("describes every service with descriptors a strict reader accepts (map entries named as protoc names them)", async () => {
    const reflection = new ReflectionClient(address);
    const maps: string[] = [];
    try {
      for (const service of SERVICES) {
        const files = (await reflection.fileContainingSymbol(service)).map(decodeFileDescriptor);
        expect(
          files.flatMap((file) => file.service.map((entry) => `${file.package}.${entry.name}`)),
        ).toContain(service);
        for (const file of files)
          for (const message of file.message_type) maps.push(...mapEntryProblems(message));
      }
      // Field names as the .proto spells them: grpcurl takes JSON like {"truncation_direction": ...}.
      const teiFiles = (await reflection.fileContainingSymbol("tei.v1.EmbedRequest")).map(
        decodeFileDescriptor,
      );
      const request = teiFiles
        .flatMap((file) => file.message_type)
        .find((type) => type.name === "EmbedRequest");
      expect(request?.field.map((field) => field.name)).toEqual([
        "inputs",
        "truncate",
        "normalize",
        "truncation_direction",
        "prompt_name",
        "dimensions",
      ]);
    } finally {
      reflection.close();
    }
    // Go's protodesc (grpcurl) refuses "Fields" for `map<string, string> fields`; protoc names it FieldsEntry.
    expect(maps.filter((entry) => !entry.startsWith("ok "))).toEqual([]);
    expect(maps).toContain("ok EmbedInput.fields -> FieldsEntry");
  });

  it("describes proto3 `optional` fields as protoc does (proto3_optional), not as one-field oneofs", async () => {
    // Without proto3_optional, grpcurl describes `optional bool normalize = 3` as
    // `oneof _normalize { bool normalize = 3; }`, and code generated from the reflected descriptors
    // (grpcurl -protoset-out, then protoc) gets a oneof wrapper instead of an optional field.
    const reflection = new ReflectionClient(address);
    const optional: string[] = [];
    const realOneofs: string[] = [];
    try {
      for (const symbol of ["jude.embedding.v1.EmbeddingService", "tei.v1.Embed"]) {
        const [file] = (await reflection.fileContainingSymbol(symbol)).map(decodeFileDescriptor);
        for (const message of file!.message_type)
          for (const field of message.field) {
            if (field.oneof_index === undefined || field.oneof_index === null) continue;
            const oneof = message.oneof_decl[field.oneof_index]?.name;
            const name = `${file!.package}.${message.name}.${field.name}`;
            if (field.proto3_optional) optional.push(`${name} in ${oneof}`);
            else realOneofs.push(`${name} in ${oneof}`);
          }
      }
    } finally {
      reflection.close();
    }
    expect(optional.sort()).toEqual(
      [
        "jude.embedding.v1.EmbedRequest.normalize in _normalize",
        "jude.embedding.v1.EmbedRequest.dimensions in _dimensions",
        "tei.v1.InfoResponse.sha in _sha",
        "tei.v1.InfoResponse.docker_label in _docker_label",
        "tei.v1.InfoResponse.model_sha in _model_sha",
        "tei.v1.InfoResponse.max_batch_requests in _max_batch_requests",
        "tei.v1.EmbedRequest.normalize in _normalize",
        "tei.v1.EmbedRequest.prompt_name in _prompt_name",
        "tei.v1.EmbedRequest.dimensions in _dimensions",
      ].sort(),
    );
    // A oneof the .proto declares stays one.
    expect(realOneofs.sort()).toEqual([
      "jude.embedding.v1.EmbedStreamResponse.error in result",
      "jude.embedding.v1.EmbedStreamResponse.response in result",
    ]);
  });

  it("answers an unknown symbol in-stream with NOT_FOUND, and the stream goes on", async () => {
    const reflection = new ReflectionClient(address);
    try {
      const [missing, listed] = await reflection.ask([
        { file_containing_symbol: "tei.v1.Rerank" },
        { list_services: "" },
      ]);
      expect(missing).toMatchObject({
        message_response: "error_response",
        error_response: { error_code: 5, error_message: expect.stringContaining("tei.v1.Rerank") },
      });
      expect(listed?.list_services_response?.service).toHaveLength(SERVICES.length);
    } finally {
      reflection.close();
    }
  });
});

/** For each map field of a message (and its nested ones): "ok <message>.<field> -> <entry>" or why not. */
function mapEntryProblems(message: MessageDescriptor): string[] {
  const entries = new Map(
    message.nested_type.filter((nested) => nested.options?.map_entry).map((nested) => [nested.name, nested]),
  );
  const found = message.field.flatMap((field) => {
    const entry = field.type_name.slice(field.type_name.lastIndexOf(".") + 1);
    if (!entries.has(entry)) return [];
    const expected = `${field.name.replace(/(?:^|_)(.)/g, (_match, letter: string) => letter.toUpperCase())}Entry`;
    return [
      entry === expected
        ? `ok ${message.name}.${field.name} -> ${entry}`
        : `${message.name}.${field.name}: ${entry}, not ${expected}`,
    ];
  });
  return [...found, ...message.nested_type.flatMap(mapEntryProblems)];
}

describe("grpc.reflection with auth", () => {
  let guarded: EmbeddingServer;
  beforeAll(async () => {
    const tokenFile = join(await mkdtemp(join(tmpdir(), "jude-reflection-")), "token");
    await writeFile(tokenFile, "reflection-token");
    guarded = await startServer({ auth: { tokenFile } });
  });
  afterAll(() => guarded?.close());

  it("needs the bearer token, like the services it describes", async () => {
    const target = `127.0.0.1:${guarded.grpcPort}`;
    const anonymous = new ReflectionClient(target);
    const withToken = new ReflectionClient(target, { token: "reflection-token" });
    try {
      await expect(anonymous.listServices()).rejects.toMatchObject({ code: 16 }); // UNAUTHENTICATED
      expect(await withToken.listServices()).toContain("tei.v1.Embed");
    } finally {
      anonymous.close();
      withToken.close();
    }
  });
});
