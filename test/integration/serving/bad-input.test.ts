/**
 * Every way a caller can get a request wrong gets its own status, stable code and message, on gRPC
 * and on the OpenAI HTTP route; the server keeps serving afterwards.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EmbeddingClient,
  EmbeddingClientError,
  type ClientInput,
  type EmbedOptions,
} from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { rawUnary, startServer } from "./helpers.ts";

const TOKEN = "bad-input-test-token";
const longText = "kubernetes operator engineer ".repeat(200); // ~600 tokens, over the 256 limit

let server: EmbeddingServer;
let client: EmbeddingClient;
let address: string;

beforeAll(async () => {
  const tokenFile = join(await mkdtemp(join(tmpdir(), "jude-bad-input-")), "token");
  await writeFile(tokenFile, `${TOKEN}\n`);
  server = await startServer({
    auth: { tokenFile },
    prompts: { query: "query: ", job: "Job: {{title}} at {{company}}" },
    limits: { maxInputsPerCall: 4, maxMessageBytes: 64 * 1024 },
  });
  address = `127.0.0.1:${server.grpcPort}`;
  client = new EmbeddingClient({ address, token: TOKEN });
});
afterAll(async () => {
  client.close();
  await server.close();
});

async function failureOf(
  call: Promise<unknown>,
): Promise<{ status: string; code: string | undefined; message: string }> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof EmbeddingClientError))
    throw new Error(`expected the call to fail, got ${String(error)}`);
  return { status: error.statusName, code: error.errorCode, message: error.message };
}

describe("gRPC Embed", () => {
  const cases: Array<[string, ClientInput[], EmbedOptions, string, string, string | RegExp]> = [
    [
      "an empty input list",
      [],
      {},
      "INVALID_ARGUMENT",
      "JUDE_SERVING_EMPTY_INPUTS",
      "inputs must not be empty: send at least one input",
    ],
    [
      "too many inputs",
      ["a", "b", "c", "d", "e"],
      {},
      "INVALID_ARGUMENT",
      "JUDE_SERVING_TOO_MANY_INPUTS",
      "too many inputs: 5 in one call, the limit is 4",
    ],
    [
      "an oversize text with truncate=false",
      ["short", longText],
      { truncate: false },
      "INVALID_ARGUMENT",
      "JUDE_SERVING_INPUT_TOO_LONG",
      "input 1 is longer than the model's limit of 256 tokens; set truncate to embed its first 256 tokens",
    ],
    [
      "an unknown prompt name",
      [{ text: "senior engineer", promptName: "resume" }],
      {},
      "INVALID_ARGUMENT",
      "JUDE_SERVING_UNKNOWN_PROMPT",
      'unknown prompt name "resume"; this model knows "query", "job"',
    ],
    [
      "a prompt field that is missing",
      [{ text: "", promptName: "job", fields: { title: "Engineer" } }],
      {},
      "INVALID_ARGUMENT",
      "JUDE_SERVING_MISSING_PROMPT_FIELD",
      'input 0: prompt "job" needs the field "company"',
    ],
    [
      "an empty text",
      [""],
      {},
      "INVALID_ARGUMENT",
      "JUDE_SERVING_EMPTY_TEXT",
      "input 0 is empty: send a text with at least one character",
    ],
    [
      "more dimensions than the model has",
      ["hello"],
      { dimensions: 1024 },
      "INVALID_ARGUMENT",
      "JUDE_SERVING_INVALID_DIMENSIONS",
      "dimensions must be between 1 and the model's 384, got 1024",
    ],
    [
      "a message over the size limit",
      ["x".repeat(70 * 1024)],
      {},
      "RESOURCE_EXHAUSTED",
      undefined as unknown as string,
      /larger than max/,
    ],
  ];

  it.each(cases)("refuses %s", async (_name, inputs, options, statusName, code, message) => {
    const failure = await failureOf(client.embed(inputs, options));
    expect(failure.status).toBe(statusName);
    expect(failure.code).toBe(code);
    if (typeof message === "string") expect(failure.message).toBe(message);
    else expect(failure.message).toMatch(message);
  });

  it("refuses a missing token and a wrong token with UNAUTHENTICATED", async () => {
    const anonymous = new EmbeddingClient({ address });
    const impostor = new EmbeddingClient({ address, token: "not-the-token" });
    try {
      expect(await failureOf(anonymous.embed(["hello"]))).toEqual({
        status: "UNAUTHENTICATED",
        code: "JUDE_SERVING_UNAUTHENTICATED",
        message: "missing bearer token: send 'authorization: Bearer <token>'",
      });
      expect(await failureOf(impostor.embed(["hello"]))).toEqual({
        status: "UNAUTHENTICATED",
        code: "JUDE_SERVING_UNAUTHENTICATED",
        message: "invalid bearer token",
      });
    } finally {
      anonymous.close();
      impostor.close();
    }
  });

  it("refuses a malformed protobuf with INVALID_ARGUMENT, not INTERNAL", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    // Field 1 (inputs) announces 16 bytes but only one follows.
    const error = await rawUnary(
      address,
      "/jude.embedding.v1.EmbeddingService/Embed",
      Buffer.from([0x0a, 0x10, 0x41]),
      metadata,
    );
    expect(error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details:
        "malformed request: the request could not be decoded as jude.embedding.v1.EmbedRequest: " +
        "field inputs (1) is 16 bytes long, but only 1 byte follows",
    });
    expect((error as { metadata: Metadata }).metadata.get("jude-error-code")).toEqual([
      "JUDE_SERVING_MALFORMED_REQUEST",
    ]);
  });

  it("refuses a garbled protobuf that protobuf.js would decode into a different text, naming the fault", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    const cases: Array<[string, string, Buffer, string]> = [
      // TEI inputs announces 16 bytes but only "A" follows: protobuf.js reads the string "A".
      [
        "a truncated string",
        "/tei.v1.Embed/Embed",
        Buffer.from([0x0a, 0x10, 0x41]),
        "tei.v1.EmbedRequest: field inputs (1) is 16 bytes long, but only 1 byte follows",
      ],
      // TEI inputs sent as a varint: protobuf.js reads it as the length of an empty string.
      [
        "a string sent as a varint",
        "/tei.v1.Embed/Embed",
        Buffer.from([0x08, 0x05]),
        "tei.v1.EmbedRequest: field inputs (1) has wire type 0 (varint); a string is sent as wire type 2 (length-delimited)",
      ],
      // jude truncate (a bool) sent as a string.
      [
        "a bool sent as a string",
        "/jude.embedding.v1.EmbeddingService/Embed",
        Buffer.concat([Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x41]), Buffer.from([0x12, 0x01, 0x31])]),
        "jude.embedding.v1.EmbedRequest: field truncate (2) has wire type 2 (length-delimited); a bool is sent as wire type 0 (varint)",
      ],
      // A string inside a nested message whose length runs past the message that holds it.
      [
        "a nested string longer than its message",
        "/jude.embedding.v1.EmbeddingService/Embed",
        Buffer.concat([
          Buffer.from([0x0a, 0x03, 0x0a, 0x05, 0x41]),
          Buffer.from([0x22, 0x03, 0x42, 0x43, 0x44]),
        ]),
        "jude.embedding.v1.EmbedRequest: field inputs.text (1) is 5 bytes long, but only 1 byte follows",
      ],
      // Tag 2^32 + 10: field 2^29 + 1, above protobuf's largest; protobuf.js cuts the tag to 32 bits
      // and would decode the Latin-1 bytes that follow as inputs ("caf\uFFFD").
      [
        "a field number above 2^29 - 1",
        "/tei.v1.Embed/Embed",
        Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x10, 0x04, 0x63, 0x61, 0x66, 0xe9]),
        "tei.v1.EmbedRequest: a field has number 536870913, above the largest protobuf allows (536870911)",
      ],
      [
        "wire type 7",
        "/tei.v1.Embed/Embed",
        Buffer.from([0x0f]),
        "tei.v1.EmbedRequest: field inputs (1) has wire type 7, which does not exist",
      ],
      // 10,000 nested starts of an unknown group (field 12): refused at protobuf's depth limit.
      [
        "deeply nested groups",
        "/tei.v1.Embed/Embed",
        Buffer.alloc(10_000, (12 << 3) | 3),
        "tei.v1.EmbedRequest: field 12 nests groups or messages more than 100 deep (protobuf's recursion limit)",
      ],
    ];
    for (const [what, path, body, detail] of cases) {
      const error = await rawUnary(address, path, body, metadata);
      expect(error, what).toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: `malformed request: the request could not be decoded as ${detail}`,
      });
    }
    // The server still embeds well-formed requests afterwards.
    expect((await client.embed(["hello"])).vectors).toHaveLength(1);
  });

  it("embeds well-formed requests as a client built from a newer .proto sends them", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    const bytesField = (number: number, bytes: Buffer | string): Buffer => {
      const value = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
      return Buffer.concat([Buffer.from([(number << 3) | 2, value.length]), value]);
    };
    const varintField = (number: number, value: number): Buffer => Buffer.from([number << 3, value]);
    // Fields a newer .proto may add, which arrive as unknown fields: a 10-byte negative int32, a
    // fixed64, a fixed32, bytes that are not UTF-8, a balanced group holding a group, and a field
    // number of 2^29 - 1.
    const unknown = Buffer.concat([
      Buffer.from([9 << 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      Buffer.from([(10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]),
      Buffer.from([(11 << 3) | 5, 1, 2, 3, 4]),
      bytesField(14, Buffer.from([0xff, 0xfe])),
      Buffer.from([(12 << 3) | 3, (13 << 3) | 3, 1 << 3, 1, (13 << 3) | 4, (12 << 3) | 4]),
      Buffer.from([0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01]),
    ]);
    const text = "kubernetes operator engineer";
    const requests: Array<[string, Buffer]> = [
      [
        "/jude.embedding.v1.EmbeddingService/Embed",
        Buffer.concat([
          unknown,
          varintField(2, 0), // truncate sent twice: the last one counts
          bytesField(4, ""), // an empty request_id
          // An input with its text after its other fields, an empty map entry and unknown fields;
          // then an empty input
          bytesField(1, Buffer.concat([unknown, bytesField(3, ""), bytesField(1, text)])),
          varintField(3, 0), // normalize: false, sent explicitly
          bytesField(1, bytesField(1, "another text")),
          varintField(2, 1),
        ]),
      ],
      [
        "/tei.v1.Embed/Embed",
        Buffer.concat([bytesField(1, "replaced"), unknown, varintField(3, 1), bytesField(1, text)]),
      ],
      ["/tei.v1.Embed/Embed", Buffer.concat([unknown, bytesField(1, text)])],
      // What Python's protobuf 7.36 serializes from these protos with fields 20-27 added (int32 -1,
      // fixed32, fixed64, packed repeated int32, repeated string, bytes 0xff, sint32, double) set in
      // the request and the input, an empty map entry, normalize false and an empty request_id.
      [
        "/jude.embedding.v1.EmbeddingService/Embed",
        Buffer.from(
          "0a350a1c6b756265726e65746573206f70657261746f7220656e67696e6565721a040a001200a001" +
            "fbffffffffffffffff01ba010207080a080a067365636f6e6410011800a001ffffffffffffffffff" +
            "01ad0103000000b1010400000000000000ba010c01ffffffffffffffffff0102c20100c20102c3a9" +
            "ca0101ffd00111d901000000000000f83f",
          "hex",
        ),
      ],
      [
        "/tei.v1.Embed/Embed",
        Buffer.from(
          "0a1c6b756265726e65746573206f70657261746f7220656e67696e656572100118012001a001ffff" +
            "ffffffffffffff01ad0101000000ba010bffffffffffffffffff0105d9010000000000000040",
          "hex",
        ),
      ],
    ];
    for (const [path, body] of requests)
      expect(await rawUnary(address, path, body, metadata), path).toBeInstanceOf(Buffer);
  });

  it("refuses a text that is not UTF-8 instead of embedding U+FFFD in its place", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    const latin1Cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    const field = (number: number, bytes: Buffer): Buffer =>
      Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);
    const requests: Array<[string, string, Buffer, RegExp]> = [
      // jude Embed: inputs[0].text
      ["/jude.embedding.v1.EmbeddingService/Embed", "text", field(1, field(1, latin1Cafe)), /inputs\.text/],
      // jude Embed: a value of inputs[0].fields (a map entry is a nested message)
      [
        "/jude.embedding.v1.EmbeddingService/Embed",
        "field value",
        field(1, field(3, Buffer.concat([field(1, Buffer.from("title")), field(2, latin1Cafe)]))),
        /inputs\.fields\.value/,
      ],
      // TEI Embed: inputs
      ["/tei.v1.Embed/Embed", "TEI inputs", field(1, latin1Cafe), /inputs/],
    ];
    for (const [path, what, body, fieldName] of requests) {
      const error = await rawUnary(address, path, body, metadata);
      expect(error, what).toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/not valid UTF-8/),
      });
      expect((error as { details: string }).details, what).toMatch(fieldName);
    }
    // The same request with valid UTF-8 is embedded.
    const cafe = await rawUnary(
      address,
      "/jude.embedding.v1.EmbeddingService/Embed",
      field(1, field(1, Buffer.from("café"))),
      metadata,
    );
    expect(cafe).toBeInstanceOf(Buffer);
  });

  it("refuses a truncation_direction the proto does not define instead of taking it as RIGHT", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    const bytesField = (number: number, bytes: Buffer): Buffer =>
      Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);
    const varintField = (number: number, value: number): Buffer => Buffer.from([number << 3, value]);
    const text = Buffer.from("kubernetes operator engineer");
    const requests: Array<[string, (direction: number) => Buffer]> = [
      // jude Embed: inputs[0].text, truncate, truncation_direction (field 5)
      [
        "/jude.embedding.v1.EmbeddingService/Embed",
        (direction) =>
          Buffer.concat([bytesField(1, bytesField(1, text)), varintField(2, 1), varintField(5, direction)]),
      ],
      // TEI Embed: inputs, truncate, truncation_direction (field 4)
      [
        "/tei.v1.Embed/Embed",
        (direction) => Buffer.concat([bytesField(1, text), varintField(2, 1), varintField(4, direction)]),
      ],
    ];
    for (const [path, request] of requests) {
      const error = await rawUnary(address, path, request(7), metadata);
      expect(error, path).toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/truncation_direction 7 is not a TruncationDirection/),
      });
      // The two defined values are embedded.
      for (const direction of [0, 1])
        expect(await rawUnary(address, path, request(direction), metadata)).toBeInstanceOf(Buffer);
    }
  });

  it("refuses only the oversize call among concurrent good calls that share its batches", async () => {
    const good = Array.from({ length: 16 }, (_, index) =>
      client.embed([`good call ${index}`, "second input"]),
    );
    const oversize = failureOf(client.embed(["short", longText]));
    const alone = failureOf(client.embed([longText]));
    const answers = await Promise.all(good);
    expect(answers.map((answer) => answer.vectors.map((vector) => vector.length))).toEqual(
      Array(16).fill([384, 384]),
    );
    expect(await oversize).toMatchObject({ status: "INVALID_ARGUMENT", code: "JUDE_SERVING_INPUT_TOO_LONG" });
    expect((await oversize).message).toContain("input 1 is longer");
    expect(await alone).toMatchObject({ status: "INVALID_ARGUMENT", code: "JUDE_SERVING_INPUT_TOO_LONG" });
  });

  it("embeds the oversize text when truncate is set, and keeps serving after every refusal", async () => {
    const answer = await client.embed(["short", longText], { truncate: true });
    expect(answer.tokenCounts[1]).toBe(256);
    expect(answer.truncated).toEqual([false, true]);
    expect(answer.vectors[1]).toHaveLength(384);
  });
});

describe("OpenAI POST /v1/embeddings", () => {
  const post = async (body: string, token: string | null) => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
    });
    return {
      status: response.status,
      body: (await response.json()) as { error?: { code: string; message: string; type: string } },
    };
  };

  const cases: Array<[string, string, string | null, number, string, string | RegExp]> = [
    [
      "a body that is not JSON",
      "{input:",
      TOKEN,
      400,
      "JUDE_SERVING_MALFORMED_REQUEST",
      /^malformed request: the body is not valid JSON/,
    ],
    [
      "token ids instead of text",
      JSON.stringify({ input: [[101, 102]] }),
      TOKEN,
      400,
      "JUDE_SERVING_MALFORMED_REQUEST",
      /^malformed request: input/,
    ],
    [
      "an empty input list",
      JSON.stringify({ input: [] }),
      TOKEN,
      400,
      "JUDE_SERVING_EMPTY_INPUTS",
      "inputs must not be empty: send at least one input",
    ],
    [
      "dimensions that are not a whole number",
      JSON.stringify({ input: "hello", dimensions: 2.5 }),
      TOKEN,
      400,
      "JUDE_SERVING_MALFORMED_REQUEST",
      "malformed request: dimensions: must be a whole number, got 2.5",
    ],
    [
      "a missing token",
      JSON.stringify({ input: "hello" }),
      null,
      401,
      "JUDE_SERVING_UNAUTHENTICATED",
      /^missing bearer token/,
    ],
    [
      "a wrong token",
      JSON.stringify({ input: "hello" }),
      "nope",
      401,
      "JUDE_SERVING_UNAUTHENTICATED",
      "invalid bearer token",
    ],
    [
      // What Python's surrogateescape makes of a Latin-1 "café" and json.dumps sends: valid JSON, but
      // no UTF-8 encodes it, and the tokenizer would drop it and embed "caf au lait" as a success.
      "a text with an unpaired surrogate escape",
      '{"input":"caf\\udce9 au lait"}',
      TOKEN,
      400,
      "JUDE_SERVING_MALFORMED_REQUEST",
      "malformed request: input holds an unpaired surrogate (\\udce9): text must be Unicode, as UTF-8 can encode it",
    ],
    [
      "a body over the size limit",
      JSON.stringify({ input: "x".repeat(70 * 1024) }),
      TOKEN,
      413,
      "JUDE_SERVING_MESSAGE_TOO_LARGE",
      /larger than the limit of 65536 bytes/,
    ],
  ];

  it.each(cases)("refuses %s", async (_name, body, token, httpStatus, code, message) => {
    const response = await post(body, token);
    expect(response.status).toBe(httpStatus);
    expect(response.body.error?.code).toBe(code);
    if (typeof message === "string") expect(response.body.error?.message).toBe(message);
    else expect(response.body.error?.message).toMatch(message);
  });

  it("refuses a body that is not UTF-8 (Latin-1 'café') instead of embedding 'caf' and a dropped U+FFFD", async () => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: Buffer.concat([Buffer.from('{"input":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error?: { code: string; message: string } };
    expect(body.error).toMatchObject({
      code: "JUDE_SERVING_MALFORMED_REQUEST",
      message: "malformed request: the body is not valid UTF-8 (JSON must be UTF-8 encoded)",
    });
  });

  it("says dimensions must be a whole number on TEI's route too, and names the model's range for a negative", async () => {
    const post = async (body: object) => {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/embed`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as unknown };
    };
    expect(await post({ inputs: "hello", dimensions: 2.5 })).toEqual({
      status: 422,
      body: {
        error: "malformed request: dimensions: must be a whole number, got 2.5",
        error_type: "Validation",
      },
    });
    expect(await post({ inputs: "hello", dimensions: -1 })).toEqual({
      status: 422,
      body: { error: "dimensions must be between 1 and the model's 384, got -1", error_type: "Validation" },
    });
  });

  it("refuses a gzip-compressed body with 415 and Accept-Encoding, naming its encoding, on OpenAI's and TEI's routes", async () => {
    const post = (path: string, body: object) =>
      fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-encoding": "gzip",
          authorization: `Bearer ${TOKEN}`,
        },
        body: gzipSync(JSON.stringify(body)),
      });
    const message = "Content-Encoding gzip is not supported: send the body uncompressed";
    const openAi = await post("/v1/embeddings", { input: "hello" });
    expect(openAi.status).toBe(415);
    expect(openAi.headers.get("accept-encoding")).toBe("identity");
    expect(((await openAi.json()) as { error?: unknown }).error).toMatchObject({
      type: "invalid_request_error",
      code: "JUDE_SERVING_UNSUPPORTED_ENCODING",
      message,
    });
    const tei = await post("/embed", { inputs: "hello" });
    expect(tei.status).toBe(415);
    expect(tei.headers.get("accept-encoding")).toBe("identity");
    expect(await tei.json()).toEqual({ error: message, error_type: "Validation" });
  });
});
